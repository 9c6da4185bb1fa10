"""SQL access for the monitor: references per environment, runs, schedule state, pipeline alert state."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, desc, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.monitor.tables import metadata, pipeline_alerts, references, runs, schedule_state

_JSON_COLUMNS = ("checks", "counts", "reports")
DECISIVE = ("drift", "no_drift")


def _run(row: Any) -> dict[str, Any]:
    out = dict(row)
    for column in _JSON_COLUMNS:
        out[column] = json.loads(out[column] or "{}")
    return out


class MonitorStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(select(runs.c.id).limit(1))
        return True

    # ------------------------------------------------------------------------------------------ references
    async def save_reference(self, row: dict[str, Any]) -> None:
        key = (row["environment"], row["model_name"], row["version"])
        async with self.engine.begin() as conn:
            where = (
                (references.c.environment == key[0])
                & (references.c.model_name == key[1])
                & (references.c.version == key[2])
            )
            done = await conn.execute(update(references).where(where).values(**row))
            if done.rowcount == 0:
                await conn.execute(insert(references).values(**row))

    async def active_reference(self, environment: str) -> dict[str, Any] | None:
        query = (
            select(references)
            .where(references.c.environment == environment)
            .order_by(desc(references.c.promoted_at), desc(references.c.recorded_at))
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def environments(self) -> list[str]:
        """Environments some model was promoted to."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(references.c.environment).distinct())).scalars().all()
        return sorted(rows)

    # ------------------------------------------------------------------------------------------------ runs
    async def start_run(self, row: dict[str, Any]) -> dict[str, Any]:
        """Insert a running run; an existing run with the same id (a redelivery) is returned as it is."""
        values = {**row, **{c: json.dumps(row.get(c, {})) for c in _JSON_COLUMNS}}
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(runs).values(**values))
        except IntegrityError:
            pass
        found = await self.get_run(row["id"])
        assert found is not None
        return found

    async def finish_run(self, run_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        values = {k: (json.dumps(v, default=str) if k in _JSON_COLUMNS else v) for k, v in fields.items()}
        async with self.engine.begin() as conn:
            await conn.execute(update(runs).where(runs.c.id == run_id).values(status="done", **values))
        found = await self.get_run(run_id)
        assert found is not None
        return found

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().first()
        return _run(row) if row else None

    async def list_runs(
        self,
        environment: str | None = None,
        verdict: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        query = select(runs).order_by(desc(runs.c.created_at)).limit(limit)
        if environment:
            query = query.where(runs.c.environment == environment)
        if verdict:
            query = query.where(runs.c.verdict == verdict)
        if event_id:
            query = query.where(runs.c.event_id == event_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_run(r) for r in rows]

    async def previous_decisive(
        self, environment: str, model_name: str, version: int, before: float, exclude: str
    ) -> dict[str, Any] | None:
        """The latest finished drift/no_drift run of this model version that ended before `before`."""
        query = (
            select(runs)
            .where(
                runs.c.environment == environment,
                runs.c.model_name == model_name,
                runs.c.version == version,
                runs.c.status == "done",
                runs.c.verdict.in_(DECISIVE),
                runs.c.window_end <= before,
                runs.c.id != exclude,
            )
            .order_by(desc(runs.c.window_end), desc(runs.c.created_at))
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _run(row) if row else None

    # -------------------------------------------------------------------------------------------- schedule
    async def schedule_state(self, name: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(schedule_state).where(schedule_state.c.name == name))).mappings().first()
        return dict(row) if row else None

    async def set_schedule_state(self, name: str, expression: str, last_fired_at: float) -> None:
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(schedule_state)
                .where(schedule_state.c.name == name)
                .values(expression=expression, last_fired_at=last_fired_at)
            )
            if done.rowcount == 0:
                await conn.execute(
                    insert(schedule_state).values(name=name, expression=expression, last_fired_at=last_fired_at)
                )

    # ------------------------------------------------------------------------------------- pipeline alerts
    async def alert_state(self, key: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(pipeline_alerts).where(pipeline_alerts.c.key == key))).mappings().first()
        return dict(row) if row else None

    async def set_alert_state(self, key: str, level: float, alerted_at: float, alerts: int) -> None:
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(pipeline_alerts)
                .where(pipeline_alerts.c.key == key)
                .values(level=level, alerted_at=alerted_at, alerts=alerts)
            )
            if done.rowcount == 0:
                await conn.execute(
                    insert(pipeline_alerts).values(key=key, level=level, alerted_at=alerted_at, alerts=alerts)
                )

    async def clear_alert_state(self, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(pipeline_alerts).where(pipeline_alerts.c.key == key))
