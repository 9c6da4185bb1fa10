"""Overload answers 429 with Retry-After; SIGTERM drains in-flight requests and flushes capture (real process)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from shared.capture import CaptureRecord, capture_prefix
from tests.conftest import boto
from tests.integration.inference.conftest import (
    MODEL,
    StartInference,
    World,
    env_for_subprocess,
    s3_keys,
    s3_text,
    wait_serving,
)
from tests.support.emulator import free_port
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration


def _fire(url: str, n: int) -> list[httpx.Response]:
    """`n` single-text predictions at once, from threads; returns their answers (in no particular order)."""
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        answer = httpx.post(f"{url}/v1/predict", json={"texts": [f"where is my parcel {i}"]}, timeout=60)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return answers


def test_a_full_queue_answers_429_with_retry_after(world: World, start_inference: StartInference) -> None:
    world.promote(world.v1, 1, publish=False)
    # One text may wait, for 200 ms: everything arriving meanwhile finds the queue full.
    with start_inference(INFERENCE_MAX_QUEUE_TEXTS="1", INFERENCE_MAX_WAIT_MS="200") as url:
        wait_serving(url, 1)
        answers = _fire(url, 30)
        metrics = httpx.get(f"{url}/metrics").text
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {200, 429}, statuses
    refused = [a for a in answers if a.status_code == 429]
    assert all(a.headers["retry-after"] == "1" and "overloaded" in a.json()["detail"] for a in refused)
    assert re.search(r'inference_rejected_total\{reason="overloaded"\} ([1-9]\d*)', metrics)


def _queued_texts(url: str) -> float:
    found = re.search(r"^inference_queue_texts (\S+)$", httpx.get(f"{url}/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("runner", ["thread", "process"])
def test_sigterm_drains_in_flight_requests_and_flushes_capture(world: World, tmp_path: Path, runner: str) -> None:
    world.promote(world.v1, 1, publish=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = env_for_subprocess(
        PORT=str(port),
        INFERENCE_MAX_WAIT_MS="1000",  # requests wait in the queue long enough to be in flight at SIGTERM
        INFERENCE_CAPTURE_FLUSH_SECONDS="3600",  # only the shutdown flush writes capture
        MLOPS_LOG_FORMAT="text",
        INFERENCE_RUNNER=runner,
    )
    log = (tmp_path / "inference.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.inference"], env=env, stdout=log, stderr=log)
    try:
        wait_until(lambda: _answers(url) or proc.poll() is not None, timeout=90, what="inference subprocess up")
        assert proc.poll() is None, (tmp_path / "inference.log").read_text()[-3000:]
        wait_serving(url, 1)
        before = set(s3_keys(world.topology.home_bucket, capture_prefix("dev", MODEL)))
        result: list[list[httpx.Response]] = []
        firing = threading.Thread(target=lambda: result.append(_fire(url, 12)))
        firing.start()
        wait_until(lambda: _queued_texts(url) >= 12, timeout=30, what="12 requests queued")
        proc.send_signal(signal.SIGTERM)
        firing.join(60)
        # uvicorn re-raises the signal after its graceful shutdown: -SIGTERM is a clean, complete exit here.
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "Application shutdown complete" in (tmp_path / "inference.log").read_text()
    answers = result[0]
    assert [a.status_code for a in answers] == [200] * 12, (tmp_path / "inference.log").read_text()[-3000:]
    new = set(s3_keys(world.topology.home_bucket, capture_prefix("dev", MODEL))) - before
    records = [
        CaptureRecord.model_validate_json(line)
        for key in new
        for line in s3_text(world.topology.home_bucket, key).splitlines()
    ]
    ids = {p["prediction_id"] for a in answers for p in a.json()["predictions"]}
    assert {r.prediction_id for r in records} == ids
    prefix = world.topology.queue_name("inference", "x")[:-1]
    leftovers = [u for u in boto("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", []) if "dlq" not in u]
    assert leftovers == []


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
