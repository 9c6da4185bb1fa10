"""The registry on PostgreSQL: migrations, and races settled by the database (concurrent promotions of the same
alias, concurrent registrations of one model), with separate engines like separate replicas."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.registry import migrate, promotion
from services.registry.deps import RegistryDeps
from services.registry.errors import Conflict
from tests.unit.registry.conftest import FakeArtifacts, add_version, approve_everywhere, build_deps
from tests.unit.registry.test_migrations import check_schema

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh database on the test server, dropped afterwards."""
    name = f"registry_{uuid.uuid4().hex[:10]}"
    server = make_url(postgres_url)
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_migrations_on_postgresql_run_concurrently_once_and_guard_the_ledger(database: str) -> None:
    from shared.db import create_engine

    engines = [create_engine(database) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate.upgrade(e) for e in engines))  # replicas starting together
        await check_schema(engines[0])
        await migrate.downgrade(engines[0])
        async with engines[0].connect() as conn:
            left = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_tables "
                    "WHERE tablename LIKE 'registry_%' AND tablename != 'registry_alembic_version'"
                )
            )
            assert left.scalar() == 0
        await migrate.upgrade(engines[1])
        assert await migrate.current(engines[1]) == "0001"
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.fixture
async def replicas(database: str, tmp_path: Path) -> AsyncIterator[tuple[list[RegistryDeps], FakeArtifacts]]:
    store = FakeArtifacts()
    built = [await build_deps(database, store, tmp_path / str(n)) for n in range(2)]
    yield built, store
    for deps in built:
        await deps.catalog.engine.dispose()


async def test_two_promotions_fired_together_cannot_both_win(
    replicas: tuple[list[RegistryDeps], FakeArtifacts],
) -> None:
    (one, two), store = replicas
    rows = [await add_version(one, store, "race", f"cand-{n}", f"bytes {n}".encode()) for n in range(3)]
    for row in rows:
        await approve_everywhere(one, row)
    await promotion.promote(one, "race", 1, "dev", "carl", "first")
    for round_ in range(5):  # several rounds: each time exactly one of the two wins
        current = (await one.releases.alias("race", "dev"))["version"]  # type: ignore[index]
        contenders = [r["version"] for r in rows if r["version"] != current]

        async def attempt(deps: RegistryDeps, version: int, seen: int, why: str) -> str:
            try:
                await promotion.promote(deps, "race", version, "dev", "carl", why, seen)
            except Conflict:
                return "lost"
            return "won"

        outcomes = await asyncio.gather(
            attempt(one, contenders[0], current, f"round {round_}"),
            attempt(two, contenders[1], current, f"round {round_}"),
        )
        assert sorted(outcomes) == ["lost", "won"]
    ledger = await one.releases.ledger("race", "dev")
    assert len(ledger) == 6  # the first promotion and one winner per round, nothing from the losers
    chain = [(e["from_version"], e["to_version"]) for e in ledger]
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(chain))
    alias = await two.releases.alias("race", "dev")
    assert alias is not None and alias["version"] == ledger[-1]["to_version"] and alias["revision"] == 6


async def test_concurrent_registrations_get_unique_increasing_versions(
    replicas: tuple[list[RegistryDeps], FakeArtifacts],
) -> None:
    (one, two), store = replicas
    jobs = [add_version(one if n % 2 else two, store, "many", f"cand-{n}") for n in range(12)]
    rows = await asyncio.gather(*jobs, add_version(one, store, "many", "cand-3"))  # and a duplicate candidate
    assert sorted(r["version"] for r in rows[:12]) == list(range(1, 13))
    assert rows[12]["version"] == rows[3]["version"]  # idempotent on the candidate id
