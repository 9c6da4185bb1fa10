"""The record store on SQL (SQLite by default, PostgreSQL when `MLOPS_DATABASE_URL` says so)."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Float, Integer, MetaData, String, Table, and_, insert, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.ingest.records import EventRow, UploadRow

metadata = MetaData()

uploads_table = Table(
    "ingest_uploads",
    metadata,
    Column("upload_id", String(80), primary_key=True),
    Column("dataset", String(64), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("bucket", String(63), nullable=False),
    Column("key", String(1024), nullable=False, index=True),
    Column("correlation_id", String(64), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("size", BigInteger),
    Column("version_id", String(1024)),
    Column("etag", String(128)),
    Column("mapping", JSON),
    Column("origin", String(2048)),
)

events_table = Table(
    "ingest_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("occurred_at", Float, nullable=False),
    Column("recorded_at", Float, nullable=False),
    Column("correlation_id", String(64), nullable=False, index=True),
    Column("source", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("dataset", String(64), index=True),
    Column("version", String(128)),
    Column("upload_id", String(80)),
    Column("source_key", String(1024)),
    Column("model_name", String(255), index=True),
    Column("model_version", Integer),
)


def _upload(row: RowMapping) -> UploadRow:
    return UploadRow(**{c.name: row[c.name] for c in uploads_table.columns})


def _values(row: UploadRow) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in uploads_table.columns}


def _event(row: RowMapping) -> EventRow:
    values: dict[str, Any] = {c.name: row[c.name] for c in events_table.columns}
    if isinstance(values["payload"], str):  # some drivers hand JSON back as text
        values["payload"] = json.loads(values["payload"])
    return EventRow(**values)


class SqlRecordStore:
    """Rows in two tables (`ingest_uploads`, `ingest_events`) next to the idempotency records."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def add_event(self, row: EventRow, sketch: UploadRow | None = None) -> bool:
        values = {c.name: getattr(row, c.name) for c in events_table.columns}
        values["recorded_at"] = time.time()
        try:
            async with self.engine.begin() as conn:
                # One transaction: a reader never sees the sketched upload without the event that explains it.
                if sketch is not None and not await self._known(conn, sketch.upload_id):
                    await conn.execute(insert(uploads_table).values(**_values(sketch)))
                await conn.execute(insert(events_table).values(**values))
        except IntegrityError:
            # Usually the event is already stored (a redelivery). A concurrent sketch of the same upload also
            # lands here; then the event is missing and the redelivered message will store it.
            return False
        return True

    async def _known(self, conn: AsyncConnection, upload_id: str) -> bool:
        found = await conn.execute(select(uploads_table.c.upload_id).where(uploads_table.c.upload_id == upload_id))
        return found.first() is not None

    async def save_upload(self, row: UploadRow) -> None:
        values = _values(row)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(uploads_table).values(**values))
            return
        except IntegrityError:
            pass
        # The row exists (a sketch from a prep event that overtook ours, or our own event coming back): replace it.
        async with self.engine.begin() as conn:
            await conn.execute(
                uploads_table.update().where(uploads_table.c.upload_id == row.upload_id).values(**values)
            )

    async def uploads(self, dataset: str | None = None) -> list[UploadRow]:
        query = select(uploads_table).order_by(uploads_table.c.created_at)
        if dataset is not None:
            query = query.where(uploads_table.c.dataset == dataset)
        async with self.engine.connect() as conn:
            return [_upload(r) for r in (await conn.execute(query)).mappings()]

    async def events(self, dataset: str | None = None) -> list[EventRow]:
        query = select(events_table).order_by(events_table.c.occurred_at, events_table.c.recorded_at)
        if dataset is not None:
            query = query.where(events_table.c.dataset == dataset)
        async with self.engine.connect() as conn:
            return [_event(r) for r in (await conn.execute(query)).mappings()]

    async def unnamed_events(self, correlation_ids: set[str], model_names: set[str]) -> list[EventRow]:
        if not correlation_ids and not model_names:
            return []
        linked = or_(
            events_table.c.correlation_id.in_(sorted(correlation_ids)),
            events_table.c.model_name.in_(sorted(model_names)),
        )
        query = (
            select(events_table)
            .where(and_(events_table.c.dataset.is_(None), linked))
            .order_by(events_table.c.occurred_at, events_table.c.recorded_at)
        )
        async with self.engine.connect() as conn:
            return [_event(r) for r in (await conn.execute(query)).mappings()]
