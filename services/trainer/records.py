"""The trainer's record of every study (how it was triggered, its state, its outcome), in the service database.

The trials themselves live in the Optuna storage; this table says what the service did with a study, so that
`GET /v1/studies/{id}` answers whichever way the study was triggered and after a restart.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

ACTIVE = ("queued", "running", "cancelling")
FINAL = ("completed", "failed", "cancelled")

metadata = MetaData()
studies_table = Table(
    "trainer_studies",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("dataset", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("backend", String(16), nullable=False),
    Column("n_trials", Integer, nullable=False),
    Column("timeout_seconds", Float),
    Column("config", Text, nullable=False),  # JSON StudyConfig
    Column("storage", String(1024), nullable=False),
    Column("correlation_id", String(128)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("reason", Text),
    Column("outcome", Text),  # JSON: candidate, model, best value, metrics
    Column("job_ref", String(256)),  # worker pid or SageMaker job name
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("updated_at", Float, nullable=False),
)


class StudyStore:
    """Study records in the service's database (SQLite locally, PostgreSQL when replicas share one)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def queued(self, study_id: str, **fields: Any) -> None:
        """Record a study before its work starts; a no-op when it exists."""
        now = time.time()
        values = {k: _encode(k, v) for k, v in fields.items()}
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(studies_table).values(
                        id=study_id, state="queued", attempts=0, created_at=now, updated_at=now, **values
                    )
                )
        except IntegrityError:
            pass

    async def running(self, study_id: str, **fields: Any) -> None:
        values = {k: _encode(k, v) for k, v in fields.items()}
        now = time.time()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(studies_table)
                .where(studies_table.c.id == study_id)
                .values(
                    state="running",
                    reason=None,
                    started_at=now,
                    updated_at=now,
                    attempts=studies_table.c.attempts + 1,
                    **values,
                )
            )

    async def update(self, study_id: str, **fields: Any) -> None:
        values = {k: _encode(k, v) for k, v in fields.items()}
        async with self.engine.begin() as conn:
            await conn.execute(
                update(studies_table).where(studies_table.c.id == study_id).values(updated_at=time.time(), **values)
            )

    async def get(self, study_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(studies_table).where(studies_table.c.id == study_id))).mappings().first()
        return _public(dict(row)) if row else None

    async def recent(self, limit: int = 50, dataset: str | None = None) -> list[dict[str, Any]]:
        query = select(studies_table).order_by(studies_table.c.updated_at.desc()).limit(limit)
        if dataset:
            query = query.where(studies_table.c.dataset == dataset)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_public(dict(r)) for r in rows]


def _encode(key: str, value: Any) -> Any:
    return json.dumps(value, default=str) if key in ("config", "outcome") and not isinstance(value, str) else value


def _public(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("config", "outcome"):
        row[key] = json.loads(row[key]) if row.get(key) else ({} if key == "outcome" else None)
    return row
