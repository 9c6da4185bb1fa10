"""What both registry stores share: the engine, and one writer at a time on SQLite.

SQLite cannot upgrade a read transaction into a write while another connection writes (it fails at once instead of
waiting), so writes that read first are serialised per process; on PostgreSQL the database's own locks, unique
constraints and compare-and-set updates settle races, also between replicas.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


class Database:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._sqlite = engine.dialect.name == "sqlite"
        # One lock per engine, shared by every store on it (the catalog and the releases write to the same file).
        self._lock = _LOCKS.setdefault(engine.sync_engine, asyncio.Lock())

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite:
            async with self._lock, self.engine.begin() as conn:
                yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        from sqlalchemy import text

        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))
        return True


def row(mapping: RowMapping | None) -> dict[str, Any] | None:
    return dict(mapping) if mapping is not None else None
