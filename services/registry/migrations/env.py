"""Alembic environment of the registry. The service runs migrations programmatically at start-up (see
`services.registry.migrate`), handing its own connection in `config.attributes["connection"]`; run by hand
(`alembic -c services/registry/alembic.ini upgrade head`) it connects to the configured database itself."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context

from services.registry.tables import metadata

VERSION_TABLE = "registry_alembic_version"  # the database may be shared with other services


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from services.registry.migrate import database_url
    from shared.db import create_engine

    engine = create_engine(database_url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())
