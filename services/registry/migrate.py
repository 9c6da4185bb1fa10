"""Applying the registry's Alembic migrations at start-up (programmatic `upgrade head`).

Several replicas may start at once against one PostgreSQL: a transaction-scoped advisory lock lets one of them
migrate while the others wait and then find nothing left to do.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x5245_4749  # "REGI": any fixed number the other services do not use


def alembic_config(connection: Any | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def database_url() -> str:
    from services.registry.settings import RegistrySettings
    from shared.settings import CommonSettings

    return RegistrySettings().database_url or CommonSettings().database_url_for("registry")


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin at every start
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def current(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def read(sync: Any) -> str | None:
        return MigrationContext.configure(
            sync, opts={"version_table": "registry_alembic_version"}
        ).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)
