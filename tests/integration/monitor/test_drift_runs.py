"""The real monitor app against the emulator: a promotion records the reference, a run over captured JSONL writes
Evidently reports to S3 and announces drift.checked / drift.detected on the topic, and bad input gets clear runs."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.events import S3Location
from shared.provision import SCHEDULED_TIME, scheduled_envelope
from shared.settings import CommonSettings
from tests.conftest import boto
from tests.integration.monitor.conftest import MODEL, StartMonitor, World
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration


def reference_of(url: str, env: str) -> dict[str, Any] | None:
    rows = httpx.get(f"{url}/v1/references", timeout=10).json()
    return next((r for r in rows if r["environment"] == env), None)


def run(url: str, env: str, start: datetime, hours: float = 1) -> dict[str, Any]:
    body = {
        "environment": env,
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=hours)).isoformat(),
    }
    answer = httpx.post(f"{url}/v1/runs", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    (only,) = answer.json()["runs"]
    return dict(only)


def s3_keys(bucket: str, prefix: str) -> list[str]:
    listing = boto("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_promotion_records_the_reference_and_a_run_reports_drift(world: World, start_monitor: StartMonitor) -> None:
    events = world.events()
    start = datetime(2026, 1, 5, 10, tzinfo=UTC)
    ids = world.capture(world.films[:100], start, bad_lines=4)
    truth = {
        pid: ("billing" if row["prediction"] != "billing" else "shipping")
        for pid, row in zip(ids, world.films[:100], strict=True)
    }
    world.feedback(dict(list(truth.items())[:40]), start + timedelta(hours=2))  # every label contradicts the model
    with start_monitor() as url:
        world.promote("dev")
        reference = wait_until(lambda: reference_of(url, "dev"), timeout=60, what="reference recorded")
        assert reference["status"] == "ready" and reference["model_name"] == MODEL and reference["version"] == 1
        prefix = f"monitoring/dev/reference/{MODEL}/v1/"
        assert s3_keys(world.home, prefix) == [prefix + "meta.json", prefix + "rows.jsonl"]
        meta = json.loads(boto("s3").get_object(Bucket=world.home, Key=prefix + "meta.json")["Body"].read())
        assert meta["vocabulary"]["source"] == "transformer.json" and meta["test_metrics"]["accuracy"] >= 0
        assert meta["splits"]["test"] > 0 and meta["dataset"] == world.candidate.dataset

        result = run(url, "dev", start)
        assert result["verdict"] == "drift", result
        assert result["counts"]["records"] == 100 and result["counts"]["corrupted_lines"] == 4
        assert result["counts"]["labelled"] == 40
        assert {"content", "descriptors"} <= {n for n, c in result["checks"].items() if c["status"] == "drift"}
        assert result["checks"]["concept"]["status"] == "drift"  # accuracy on the labelled traffic is 0
        assert result["level"] == "warning" and result["consecutive"] == 1
        run_prefix = f"monitoring/dev/{result['id']}/"
        stored = s3_keys(world.home, run_prefix)
        for check in ("descriptors", "content", "prediction", "confidence", "concept"):
            assert run_prefix + f"{check}.html" in stored and run_prefix + f"{check}.json" in stored
        assert run_prefix + "summary.json" in stored
        assert result["report_url"] == f"http://monitor.example/v1/runs/{result['id']}/report"

        page = httpx.get(f"{url}/v1/runs/{result['id']}/reports/content", timeout=30)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Domain classifier ROC AUC" in page.text  # our stat test, inside Evidently's report
        index = httpx.get(f"{url}/v1/runs/{result['id']}/report", timeout=10)
        assert index.status_code == 200 and "drift" in index.text and "/reports/content" in index.text
        data = httpx.get(f"{url}/v1/runs/{result['id']}/reports/prediction", params={"format": "json"}, timeout=10)
        assert data.status_code == 200 and data.json()["metrics"]

        found = events.wait_for(lambda e: e.type in ("drift.checked", "drift.detected"), want=2, timeout=60)
        checked = next(e for e in found if e.type == "drift.checked").payload
        detected = next(e for e in found if e.type == "drift.detected")
        assert checked.verdict == "drift" and checked.run_id == result["id"]  # type: ignore[attr-defined]
        assert checked.counts["corrupted_lines"] == 4  # type: ignore[attr-defined]
        assert detected.severity == "warning" and detected.payload.report_url == result["report_url"]  # type: ignore[attr-defined]

        listed = httpx.get(f"{url}/v1/runs", params={"environment": "dev"}, timeout=10).json()
        assert [r["id"] for r in listed] == [result["id"]]


def test_a_scheduled_check_from_the_queue_runs_every_environment(world: World, start_monitor: StartMonitor) -> None:
    """What EventBridge Scheduler sends (provisioning's envelope, its context attributes filled in) runs a check per
    promoted environment, over the traffic since the promotion."""
    events = world.events()
    with start_monitor() as url:
        world.promote("staging")
        wait_until(lambda: reference_of(url, "staging"), timeout=60, what="reference recorded")
        world.capture(world.tickets[:60], datetime.now(UTC), env="staging", spacing=0.001)
        fired = datetime.now(UTC) + timedelta(seconds=1)
        body = json.dumps(scheduled_envelope("rate(14 days)")).replace(
            SCHEDULED_TIME, fired.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        queue = boto("sqs").get_queue_url(QueueName=world.topology.queue_name("monitor"))["QueueUrl"]
        time.sleep(1.5)  # the window ends when the check runs: after the captured records
        boto("sqs").send_message(QueueUrl=queue, MessageBody=body)
        found = events.wait_for(
            lambda e: e.type == "drift.checked" and e.payload.environment == "staging",  # type: ignore[attr-defined]
            timeout=90,
        )
        checked = found[0].payload
        assert checked.verdict in ("drift", "no_drift") and checked.counts["records"] == 60  # type: ignore[attr-defined]
        event_id = json.loads(body)["id"]
        runs = httpx.get(f"{url}/v1/runs", params={"event_id": event_id}, timeout=10).json()
        assert [(r["environment"], r["trigger"]) for r in runs] == [("staging", "schedule")]


def test_bad_input_gives_clear_runs(world: World, start_monitor: StartMonitor) -> None:
    start = datetime(2026, 1, 7, 10, tzinfo=UTC)
    with start_monitor() as url:
        # No model in the environment.
        prod = run(url, "prod", start)
        assert prod["verdict"] == "not_enough_data" and "no model has been promoted to prod" in prod["reason"]
        # A promotion whose model card is missing in S3.
        missing = S3Location(bucket=world.home, key=f"models/{MODEL}/c-gone/model.pt")
        world.promote("staging", version=7, artifact=missing)
        wait_until(lambda: (r := reference_of(url, "staging")) and r["version"] == 7, timeout=60, what="reference")
        broken = run(url, "staging", start)
        assert broken["verdict"] == "error" and "model card missing in S3" in broken["reason"]
        # A model, but no traffic in the window.
        world.promote("dev")
        wait_until(lambda: reference_of(url, "dev"), timeout=60, what="reference")
        quiet = run(url, "dev", start + timedelta(days=30))
        assert quiet["verdict"] == "not_enough_data" and "0 records" in quiet["reason"]
        # Requests the API refuses.
        later = (start + timedelta(hours=1)).isoformat()
        bad = httpx.post(f"{url}/v1/runs", json={"window_start": later, "window_end": start.isoformat()}, timeout=10)
        assert bad.status_code == 422 and "window_start must be before" in bad.text
        assert httpx.post(f"{url}/v1/runs", json={"environment": "qa"}, timeout=10).status_code == 422
        assert httpx.get(f"{url}/v1/runs/{uuid.uuid4().hex[:16]}", timeout=10).status_code == 404
        assert httpx.get(f"{url}/v1/runs/{prod['id']}/reports/content", timeout=10).status_code == 404
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200


def test_one_class_window_and_runs_without_waiting(world: World, start_monitor: StartMonitor) -> None:
    start = datetime(2026, 1, 8, 10, tzinfo=UTC)
    one = [dict(r, prediction="billing") for r in world.tickets[:50]]
    world.capture(one, start, env=CommonSettings().home_env)
    with start_monitor() as url:
        world.promote("dev")
        wait_until(lambda: reference_of(url, "dev"), timeout=60, what="reference")
        body = {
            "environment": "dev",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=1)).isoformat(),
            "wait": False,
        }
        started = httpx.post(f"{url}/v1/runs", json=body, timeout=10)
        assert started.status_code == 202
        runs_url = url + started.json()["runs_url"]

        def done() -> dict[str, Any] | None:
            runs = httpx.get(runs_url, timeout=10).json()
            return runs[0] if runs and runs[0]["status"] == "done" else None

        result = wait_until(done, timeout=90, what="run done")
        assert result["checks"]["prediction"]["status"] == "drift"
        assert "one class only" in result["checks"]["prediction"]["reason"]
