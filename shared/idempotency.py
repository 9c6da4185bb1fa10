"""Idempotency as a named mechanism: a key per unit of work, an in-progress lease, a completed record.

SQS delivers at least once and, rarely, twice at the same time. Before a handler runs, the consumer *begins* its key:
- no record, or an expired one: the caller now holds an in-progress lease (STARTED) and runs the handler;
- an in-progress record whose lease is alive: someone else is working on it (IN_PROGRESS); leave the message alone;
- a completed record: the work and its events are already durable (COMPLETED); just delete the message.
The lease lasts as long as the message's visibility timeout and is extended by the same heartbeat, so a worker that
dies (even by SIGKILL) loses its lease exactly when SQS hands the message to someone else.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Column, Float, MetaData, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

Clock = Callable[[], float]


class Begin(enum.Enum):
    STARTED = "started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class IdempotencyStore(Protocol):
    async def begin(self, key: str, lease_seconds: float) -> Begin: ...
    async def extend(self, key: str, lease_seconds: float) -> None: ...
    async def complete(self, key: str, ttl_seconds: float) -> None: ...
    async def release(self, key: str) -> None: ...


@dataclass
class _Record:
    status: str
    expires_at: float


def _verdict(record: _Record, now: float) -> Begin | None:
    """What an existing record means now; None when it has expired and may be taken over."""
    if record.expires_at <= now:
        return None
    return Begin.COMPLETED if record.status == "completed" else Begin.IN_PROGRESS


class MemoryIdempotencyStore:
    """In-process store for unit tests and single-process tools."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self.records: dict[str, _Record] = {}

    async def begin(self, key: str, lease_seconds: float) -> Begin:
        now = self.clock()
        existing = self.records.get(key)
        if existing is not None and (verdict := _verdict(existing, now)) is not None:
            return verdict
        self.records[key] = _Record("in_progress", now + lease_seconds)
        return Begin.STARTED

    async def extend(self, key: str, lease_seconds: float) -> None:
        if (record := self.records.get(key)) and record.status == "in_progress":
            record.expires_at = self.clock() + lease_seconds

    async def complete(self, key: str, ttl_seconds: float) -> None:
        self.records[key] = _Record("completed", self.clock() + ttl_seconds)

    async def release(self, key: str) -> None:
        if (record := self.records.get(key)) and record.status == "in_progress":
            del self.records[key]


metadata = MetaData()
idempotency_table = Table(
    "idempotency_records",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


class SqlIdempotencyStore:
    """Durable store on SQLite (local) or PostgreSQL (shared by every replica of a service)."""

    def __init__(self, engine: AsyncEngine, clock: Clock = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self.table = idempotency_table

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def begin(self, key: str, lease_seconds: float) -> Begin:
        now = self.clock()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(self.table).values(
                        key=key, status="in_progress", expires_at=now + lease_seconds, updated_at=now
                    )
                )
            return Begin.STARTED
        except IntegrityError:
            return await self._take_over_if_expired(key, lease_seconds, now)

    async def _take_over_if_expired(self, key: str, lease_seconds: float, now: float) -> Begin:
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(select(self.table.c.status, self.table.c.expires_at).where(self.table.c.key == key))
            ).first()
            if row is None:  # released between our insert and select: let the redelivery retry
                return Begin.IN_PROGRESS
            if (verdict := _verdict(_Record(row.status, row.expires_at), now)) is not None:
                return verdict
            # Compare-and-set on the old expiry: of two workers finding the same expired lease, one wins.
            result = await conn.execute(
                update(self.table)
                .where(self.table.c.key == key, self.table.c.expires_at == row.expires_at)
                .values(status="in_progress", expires_at=now + lease_seconds, updated_at=now)
            )
            return Begin.STARTED if result.rowcount == 1 else Begin.IN_PROGRESS

    async def extend(self, key: str, lease_seconds: float) -> None:
        now = self.clock()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(self.table)
                .where(self.table.c.key == key, self.table.c.status == "in_progress")
                .values(expires_at=now + lease_seconds, updated_at=now)
            )

    async def complete(self, key: str, ttl_seconds: float) -> None:
        now = self.clock()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(self.table)
                .where(self.table.c.key == key)
                .values(status="completed", expires_at=now + ttl_seconds, updated_at=now)
            )

    async def release(self, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(self.table).where(self.table.c.key == key, self.table.c.status == "in_progress"))
