"""The monitor's tables on the real PostgreSQL (what replicas share): references by latest promotion, a run found
again by its id, runs of one model version in window order, schedule and pipeline alert state."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.monitor.store import MonitorStore
from shared.db import create_engine

pytestmark = pytest.mark.integration


async def test_store_on_postgres(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    store = MonitorStore(engine)
    await store.create_schema()
    env = "t" + uuid.uuid4().hex[:10]  # the database outlives the test: an environment of its own
    model = f"m-{uuid.uuid4().hex[:8]}"
    try:
        base = {"environment": env, "model_name": model, "status": "ready", "reason": "", "bucket": "b", "dataset": "d"}
        # Promotions delivered out of order: v2 (promoted later) arrives first; the environment keeps v2.
        await store.save_reference({**base, "version": 2, "prefix": "p2/", "promoted_at": 2e9, "recorded_at": 1.0})
        await store.save_reference({**base, "version": 1, "prefix": "p1/", "promoted_at": 1e9, "recorded_at": 2.0})
        active = await store.active_reference(env)
        assert active is not None and (active["model_name"], active["version"], active["prefix"]) == (model, 2, "p2/")

        run = {"event_id": "e", "environment": env, "status": "running", "trigger": "api", "model_name": model}
        ids = [uuid.uuid4().hex[:16] for _ in range(3)]
        for i, run_id in enumerate(ids):
            await store.start_run(
                {
                    **run,
                    "id": run_id,
                    "version": 2,
                    "window_start": 10.0 * i,
                    "window_end": 10.0 * i + 10,
                    "created_at": float(i),
                }
            )
        again = await asyncio.gather(
            *(
                store.start_run(
                    {**run, "id": ids[0], "version": 2, "window_start": 0.0, "window_end": 10.0, "created_at": 9.0}
                )
                for _ in range(3)
            )
        )
        assert {r["created_at"] for r in again} == {0.0}  # the first insert wins; the others find it
        await store.finish_run(
            ids[0],
            {"verdict": "drift", "consecutive": 1, "level": "warning", "checks": {"content": {"status": "drift"}}},
        )
        await store.finish_run(ids[1], {"verdict": "not_enough_data"})
        previous = await store.previous_decisive(env, model, 2, before=30.0, exclude=ids[2])
        assert previous is not None and previous["id"] == ids[0] and previous["checks"]["content"]["status"] == "drift"

        key = f"dlq:{uuid.uuid4().hex}"
        await store.set_alert_state(key, 1, 100.0, 1)
        await store.set_alert_state(key, 3, 200.0, 2)
        state = await store.alert_state(key)
        assert state is not None and (state["level"], state["alerts"]) == (3, 2)
        await store.clear_alert_state(key)
        assert await store.alert_state(key) is None
        name = f"drift-{uuid.uuid4().hex[:6]}"
        await store.set_schedule_state(name, "rate(1 day)", 5.0)
        await store.set_schedule_state(name, "rate(1 day)", 6.0)
        assert (await store.schedule_state(name) or {})["last_fired_at"] == 6.0
    finally:
        await engine.dispose()
