"""The idempotency store on the real PostgreSQL: concurrent workers racing for the same unit of work."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.db import create_engine
from shared.idempotency import Begin, SqlIdempotencyStore

pytestmark = pytest.mark.integration


async def test_concurrent_begins_elect_exactly_one_worker(postgres_url: str) -> None:
    engines = [create_engine(postgres_url) for _ in range(4)]
    stores = [SqlIdempotencyStore(engine) for engine in engines]
    await stores[0].create_schema()
    key = f"test:{uuid.uuid4().hex}"
    try:
        results = await asyncio.gather(*(store.begin(key, 30) for store in stores for _ in range(5)))
        assert results.count(Begin.STARTED) == 1
        assert results.count(Begin.IN_PROGRESS) == len(results) - 1
    finally:
        for engine in engines:
            await engine.dispose()


async def test_expired_lease_race_has_one_winner(postgres_url: str) -> None:
    clock_now = [1000.0]
    engines = [create_engine(postgres_url) for _ in range(3)]
    stores = [SqlIdempotencyStore(engine, clock=lambda: clock_now[0]) for engine in engines]
    await stores[0].create_schema()
    key = f"test:{uuid.uuid4().hex}"
    try:
        assert await stores[0].begin(key, 10) is Begin.STARTED
        clock_now[0] += 11  # the holder died; several redeliveries race for the expired lease
        results = await asyncio.gather(*(store.begin(key, 10) for store in stores for _ in range(4)))
        assert results.count(Begin.STARTED) == 1
    finally:
        for engine in engines:
            await engine.dispose()
