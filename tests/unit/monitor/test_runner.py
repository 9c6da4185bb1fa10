"""Runs end to end on the monitor's own ports (in-memory object store and publisher, SQLite): the minimum-sample
rule, persistence before high severity, the retraining policy, volume-independent sampling and bad input."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from services.monitor.current import Reservoir
from services.monitor.reference import reference_prefix, save_reference
from services.monitor.runner import DriftMonitor
from services.monitor.settings import MonitorSettings
from services.monitor.storage import MemoryObjectStore
from services.monitor.store import MonitorStore
from shared.bus import HandlerContext
from shared.capture import capture_key
from shared.events import DriftCheckScheduled
from shared.publisher import MemoryPublisher
from shared.settings import CommonSettings
from tests.unit.monitor.conftest import FILM, make_current, make_reference

COMMON = CommonSettings(namespace="unit")
BUCKET = COMMON.bucket_for("prod")
T0 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown()


@pytest.fixture
async def objects(store: MonitorStore) -> AsyncIterator[MemoryObjectStore]:
    objects = MemoryObjectStore()
    reference = make_reference()
    prefix = await save_reference(objects, BUCKET, reference)
    row = {"environment": "prod", "model_name": "reviews", "version": 1, "status": "ready", "reason": ""}
    await store.save_reference(
        {
            **row,
            "bucket": BUCKET,
            "prefix": prefix,
            "dataset": "reviews",
            "promoted_at": T0.timestamp(),
            "recorded_at": 0.0,
        }
    )
    yield objects


def monitor(settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any) -> DriftMonitor:
    return DriftMonitor(settings, COMMON, objects, store, executor, "http://monitor.test")


async def put_traffic(objects: MemoryObjectStore, frame: pd.DataFrame, start: datetime, bad_lines: int = 0) -> None:
    """Capture files as inference writes them: one batch per hour, records spread over the hour."""
    lines = []
    for i, row in enumerate(frame.itertuples()):
        ts = start + timedelta(seconds=i)
        record = {
            "prediction_id": f"{uuid.uuid4().hex}",
            "ts": ts.isoformat(),
            "environment": "prod",
            "model_name": "reviews",
            "version": 1,
            "text": row.text,
            "label": row.prediction,
            "probability": row.probability,
        }
        lines.append(json.dumps(record))
    lines += ["{not json"] * bad_lines
    key = capture_key("prod", "reviews", start + timedelta(minutes=59), uuid.uuid4().hex)
    await objects.put(BUCKET, key, ("\n".join(lines) + "\n").encode())


async def run(m: DriftMonitor, start: datetime, hours: int = 1) -> tuple[dict[str, Any], MemoryPublisher]:
    publisher = MemoryPublisher()
    event_id = uuid.uuid4().hex
    ctx = HandlerContext("monitor", f"k:{event_id}", "corr", event_id, publisher)
    request = DriftCheckScheduled(environment="prod", window_start=start, window_end=start + timedelta(hours=hours))
    (result,) = await m.check(request, event_id, ctx)
    return result, publisher


async def test_below_the_minimum_sample_the_verdict_is_not_enough_data(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    await put_traffic(objects, make_current(settings.min_samples - 1, 1, FILM), T0)  # drifted, but too little
    result, published = await run(monitor(settings, objects, store, executor), T0)
    assert result["verdict"] == "not_enough_data"
    assert f"fewer than {settings.min_samples}" in result["reason"]
    assert [e.type for e in published.published] == ["drift.checked"]
    assert published.published[0].payload.verdict == "not_enough_data"  # type: ignore[attr-defined]


async def test_drift_is_high_only_after_it_persists(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    m = monitor(settings, objects, store, executor)
    hours = [T0 + timedelta(hours=h) for h in range(6)]
    await put_traffic(objects, make_current(120, 11, FILM), hours[0])
    await put_traffic(objects, make_current(10, 12, FILM), hours[1])  # not enough data: neither extends nor breaks
    await put_traffic(objects, make_current(120, 13, FILM), hours[2])
    await put_traffic(objects, make_current(120, 14), hours[3])
    await put_traffic(objects, make_current(120, 15, FILM), hours[4])
    outcomes = [await run(m, hour) for hour in hours[:5]]
    runs = [r for r, _ in outcomes]
    assert [r["verdict"] for r in runs] == ["drift", "not_enough_data", "drift", "no_drift", "drift"]
    assert [r["level"] for r in runs] == ["warning", None, "high", None, "warning"]
    assert [r["consecutive"] for r in runs] == [1, 0, 2, 0, 1]
    detected = outcomes[2][1].of_type("drift.detected")[0]
    assert detected.severity == "high" and detected.payload.action == "alert"  # type: ignore[attr-defined]
    assert "content" in detected.payload.drifted_checks  # type: ignore[attr-defined]
    assert detected.payload.report_url == f"http://monitor.test/v1/runs/{runs[2]['id']}/report"  # type: ignore[attr-defined]
    assert outcomes[0][1].of_type("drift.detected")[0].severity == "warning"
    assert not outcomes[3][1].of_type("drift.detected")
    assert (BUCKET, f"monitoring/prod/{runs[0]['id']}/content.html") in objects.objects
    assert (BUCKET, f"monitoring/prod/{runs[0]['id']}/summary.json") in objects.objects


async def test_retrain_policy_requests_training_once_per_streak(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    retrain = MonitorSettings(**{**settings.model_dump(), "retrain_policy": "retrain"})
    m = monitor(retrain, objects, store, executor)
    hours = [T0 + timedelta(hours=h) for h in range(3)]
    for i, hour in enumerate(hours):
        await put_traffic(objects, make_current(120, 20 + i, FILM), hour)
    outcomes = [await run(m, hour) for hour in hours]
    assert [r["action"] for r, _ in outcomes] == ["alert", "retrain", "alert"]
    assert [len(p.of_type("training.requested")) for _, p in outcomes] == [0, 1, 0]
    request = outcomes[1][1].of_type("training.requested")[0].payload
    assert request.dataset == "reviews" and request.version is None and request.requested_by == "monitor"  # type: ignore[attr-defined]


async def test_the_sample_does_not_depend_on_the_volume(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    m = monitor(settings, objects, store, executor)
    small, large = T0, T0 + timedelta(hours=5)
    await put_traffic(objects, make_current(200, 31), small)
    for part in range(4):  # 2,400 records from the same population, in four files
        await put_traffic(objects, make_current(600, 40 + part), large + timedelta(hours=part))
    few, _ = await run(m, small)
    many, _ = await run(m, large, hours=4)
    assert (few["counts"]["records"], many["counts"]["records"]) == (200, 2400)
    assert few["counts"]["sampled"] == many["counts"]["sampled"] == settings.sample_size
    assert few["verdict"] == many["verdict"] == "no_drift"
    again, _ = await run(m, large, hours=4)  # the same window gives the same sample, hence the same scores
    assert again["checks"]["content"]["score"] == many["checks"]["content"]["score"]


def test_reservoir_is_uniform_and_seeded() -> None:
    def sample(seed: str) -> list[int]:
        reservoir = Reservoir(500, random.Random(seed))
        for i in range(20_000):
            reservoir.offer({"i": i})
        return [item["i"] for item in reservoir.items]

    first = sample("a")
    assert first == sample("a") and first != sample("b")
    assert len(first) == 500 and 9_000 < sum(first) / 500 < 11_000  # late items are as likely as early ones


async def test_corrupted_lines_are_counted_and_skipped(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    await put_traffic(objects, make_current(120, 51), T0, bad_lines=7)
    result, _ = await run(monitor(settings, objects, store, executor), T0)
    assert result["verdict"] == "no_drift"
    assert result["counts"]["corrupted_lines"] == 7 and result["counts"]["records"] == 120
    assert "7 corrupted lines skipped" in result["reason"]


async def test_no_model_in_the_environment(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    m = monitor(settings, objects, store, executor)
    ctx = HandlerContext("monitor", "k", "c", None, MemoryPublisher())
    (result,) = await m.check(DriftCheckScheduled(environment="staging"), "e-1", ctx)
    assert result["verdict"] == "not_enough_data"
    assert "no model has been promoted to staging" in result["reason"]


async def test_a_reference_missing_in_s3_is_an_error_with_the_reason(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    await put_traffic(objects, make_current(120, 61), T0)
    del objects.objects[(BUCKET, reference_prefix("prod", "reviews", 1) + "rows.jsonl")]
    result, published = await run(monitor(settings, objects, store, executor), T0)
    assert result["verdict"] == "error"
    assert "reference rows missing in S3" in result["reason"]
    assert published.published[0].payload.verdict == "error"  # type: ignore[attr-defined]


async def test_a_redelivered_trigger_finds_its_run_and_announces_it_again(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    await put_traffic(objects, make_current(120, 71, FILM), T0)
    m = monitor(settings, objects, store, executor)
    request = DriftCheckScheduled(environment="prod", window_start=T0, window_end=T0 + timedelta(hours=1))
    first, second = MemoryPublisher(), MemoryPublisher()
    (one,) = await m.check(request, "same-event", HandlerContext("monitor", "k", "c", None, first))
    (two,) = await m.check(request, "same-event", HandlerContext("monitor", "k", "c", None, second))
    assert one["id"] == two["id"] and one["finished_at"] == two["finished_at"]
    assert [e.id for e in first.published] == [e.id for e in second.published]
    assert len(await store.list_runs("prod")) == 1


async def test_default_window_starts_where_the_last_decisive_run_ended(
    settings: MonitorSettings, objects: MemoryObjectStore, store: MonitorStore, executor: Any
) -> None:
    await put_traffic(objects, make_current(120, 81), T0)
    m = monitor(settings, objects, store, executor)
    first, _ = await run(m, T0)
    ctx = HandlerContext("monitor", "k", "c", None, MemoryPublisher())
    end = T0 + timedelta(hours=3)
    (later,) = await m.check(DriftCheckScheduled(environment="prod", window_end=end), "e-2", ctx)
    assert later["window_start"] == first["window_end"]
    assert later["verdict"] == "not_enough_data"  # nothing was captured after the first run's window
