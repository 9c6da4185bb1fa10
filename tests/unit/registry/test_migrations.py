"""The Alembic migrations build exactly the schema the code uses, and the ledger refuses UPDATE and DELETE.
(The same checks run on PostgreSQL in tests/integration/registry/test_postgres.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import migrate
from services.registry.tables import ledger, metadata
from shared.db import create_engine


async def check_schema(engine: AsyncEngine) -> None:
    def diff(sync: Any) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"version_table": "registry_alembic_version"})
        return [d for d in compare_metadata(context, metadata) if not _foreign(d)]

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    async with engine.begin() as conn:
        values = {
            "model_name": "m",
            "environment": "dev",
            "action": "promote",
            "to_version": 1,
            "actor": "a",
            "reason": "r",
            "at": 1.0,
        }
        await conn.execute(insert(ledger).values(**values))
    for statement in ("UPDATE registry_ledger SET actor = 'mallory'", "DELETE FROM registry_ledger"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    assert await migrate.current(engine) == "0001"


def _foreign(difference: Any) -> bool:
    """Tables of other services sharing the database (idempotency, notifier...) are not the registry's business."""
    item = difference[1] if isinstance(difference, tuple) and len(difference) > 1 else None
    name = getattr(item, "name", "") or ""
    return difference[0] == "remove_table" and not name.startswith("registry_")


async def test_migrations_on_sqlite_match_the_tables_and_guard_the_ledger(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    try:
        await migrate.upgrade(engine)
        await migrate.upgrade(engine)  # a restart: nothing to do
        await check_schema(engine)
        await migrate.downgrade(engine)
        assert await migrate.current(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == "0001"
    finally:
        await engine.dispose()
