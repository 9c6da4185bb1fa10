from __future__ import annotations

from pathlib import Path

import pytest

from shared.db import create_engine
from shared.idempotency import Begin, IdempotencyStore, MemoryIdempotencyStore, SqlIdempotencyStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
async def store_and_clock(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = Clock()
    if request.param == "memory":
        yield MemoryIdempotencyStore(clock), clock
        return
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/idem.db")
    store = SqlIdempotencyStore(engine, clock)
    await store.create_schema()
    yield store, clock
    await engine.dispose()


async def test_lifecycle_started_in_progress_completed(store_and_clock: tuple[IdempotencyStore, Clock]) -> None:
    store, _clock = store_and_clock
    assert await store.begin("k", 30) is Begin.STARTED
    assert await store.begin("k", 30) is Begin.IN_PROGRESS
    await store.complete("k", 3600)
    assert await store.begin("k", 30) is Begin.COMPLETED


async def test_expired_lease_is_taken_over(store_and_clock: tuple[IdempotencyStore, Clock]) -> None:
    store, clock = store_and_clock
    assert await store.begin("k", 30) is Begin.STARTED
    clock.now += 31  # the worker died (SIGKILL); SQS redelivers after the same timeout
    assert await store.begin("k", 30) is Begin.STARTED


async def test_heartbeat_extends_the_lease(store_and_clock: tuple[IdempotencyStore, Clock]) -> None:
    store, clock = store_and_clock
    await store.begin("k", 30)
    clock.now += 25
    await store.extend("k", 30)
    clock.now += 25
    assert await store.begin("k", 30) is Begin.IN_PROGRESS


async def test_release_lets_a_retry_start_at_once(store_and_clock: tuple[IdempotencyStore, Clock]) -> None:
    store, _clock = store_and_clock
    await store.begin("k", 30)
    await store.release("k")
    assert await store.begin("k", 30) is Begin.STARTED


async def test_completed_records_expire(store_and_clock: tuple[IdempotencyStore, Clock]) -> None:
    store, clock = store_and_clock
    await store.begin("k", 30)
    await store.complete("k", 100)
    clock.now += 101
    assert await store.begin("k", 30) is Begin.STARTED
