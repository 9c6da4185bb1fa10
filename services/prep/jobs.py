"""A record of every preparation (from an S3 notification or `POST /v1/jobs`), keyed by the source object's
identity, so that `GET /v1/jobs/{id}` shows the outcome whichever way the work was triggered."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus import event_identity
from shared.messages import S3ObjectEvent

_JOB_IDS = uuid.UUID("2b0f6c8e-41a4-4c5e-9d0e-5a7f3b9e1c42")
FINAL = ("prepared", "rejected", "skipped", "failed")

metadata = MetaData()
jobs_table = Table(
    "prep_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("identity", String(2048), nullable=False),
    Column("source_uri", String(2048), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("dataset", String(128)),
    Column("version", String(64)),
    Column("manifest_uri", String(2048)),
    Column("reason", Text),
    Column("detail", Text),  # JSON: details, counts, quarantine location
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


def job_id(event: S3ObjectEvent) -> str:
    """Deterministic: the same object version is always the same job."""
    return uuid.uuid5(_JOB_IDS, event_identity(event)).hex


class JobStore:
    """Jobs in the service's database (SQLite locally, PostgreSQL when replicas share one)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def start(self, event: S3ObjectEvent, trigger: str) -> str:
        """Mark the job running (a retry counts one more attempt); returns its id."""
        jid = await self.queued(event, trigger)
        async with self.engine.begin() as conn:
            await conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == jid)
                .values(status="running", reason=None, updated_at=time.time(), attempts=jobs_table.c.attempts + 1)
            )
        return jid

    async def queued(self, event: S3ObjectEvent, trigger: str) -> str:
        """Record an API request before its work starts (no-op when the job exists)."""
        jid, now = job_id(event), time.time()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(jobs_table).values(
                        id=jid,
                        identity=event_identity(event),
                        source_uri=f"s3://{event.bucket}/{event.key}",
                        trigger=trigger,
                        status="queued",
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass
        return jid

    async def finish(
        self,
        jid: str,
        status: str,
        *,
        reason: str | None = None,
        dataset: str | None = None,
        version: str | None = None,
        manifest_uri: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": time.time(), "reason": reason}
        for name, value in (("dataset", dataset), ("version", version), ("manifest_uri", manifest_uri)):
            if value is not None:
                values[name] = value
        if detail is not None:
            values["detail"] = json.dumps(detail, ensure_ascii=False, default=str)
        async with self.engine.begin() as conn:
            await conn.execute(update(jobs_table).where(jobs_table.c.id == jid).values(**values))

    async def get(self, jid: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(jobs_table).where(jobs_table.c.id == jid))).mappings().first()
        return _public(dict(row)) if row else None

    async def recent(self, limit: int = 50, dataset: str | None = None) -> list[dict[str, Any]]:
        query = select(jobs_table).order_by(jobs_table.c.updated_at.desc()).limit(limit)
        if dataset:
            query = query.where(jobs_table.c.dataset == dataset)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_public(dict(r)) for r in rows]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    row["detail"] = json.loads(row["detail"]) if row.get("detail") else {}
    return row
