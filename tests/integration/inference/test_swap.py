"""Hot swap: on promotion events every replica converges, under load nothing fails, and bad bytes are refused."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from shared.events import S3Location
from tests.conftest import boto
from tests.integration.inference.conftest import StartInference, World, wait_serving
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration
NO_POLL = {"INFERENCE_ALIAS_CHECK_SECONDS": "3600"}  # the periodic check only at start: swaps here come from events


def _fanout_queues(world: World) -> list[str]:
    prefix = world.topology.queue_name("inference", "x")[:-1]
    urls = boto("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    return [u for u in urls if not u.endswith("-dlq")]


class SteadyLoad:
    """A few client threads predicting back to back; records every outcome per thread."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.outcomes: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> SteadyLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, i: int) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                try:
                    answer = client.post(f"{self.url}/v1/predict", json={"texts": [f"my order #{i} never arrived"]})
                    version = answer.json().get("model_version") if answer.status_code == 200 else None
                    self.outcomes[i].append((answer.status_code, version))
                except httpx.HTTPError:
                    self.outcomes[i].append((0, None))

    def versions_seen(self) -> set[int | None]:
        return {v for rows in self.outcomes.values() for _, v in rows}


def _running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.parametrize("runner", ["thread", "process"])
def test_swap_under_steady_load_fails_no_request(world: World, start_inference: StartInference, runner: str) -> None:
    world.promote(world.v1, 1, publish=False)
    with start_inference(**NO_POLL, INFERENCE_RUNNER=runner) as url:
        old = wait_serving(url, 1)
        with SteadyLoad(url) as load:
            world.promote(world.v2, 2)
            new = wait_serving(url, 2)
            # Keep the load on until every client thread has been answered by the new model too.
            threading.Event().wait(0.5)
        outcomes = dict(load.outcomes)
    statuses = [status for rows in outcomes.values() for status, _ in rows]
    assert statuses and all(status == 200 for status in statuses), {s for s in statuses if s != 200}
    assert load.versions_seen() == {1, 2}
    for rows in outcomes.values():  # once a client saw the new model, it never saw the old one again
        versions = [v for _, v in rows]
        assert versions == sorted(versions)
    assert (old["runner"], new["runner"]) == (runner, runner)
    if runner == "process":  # each version had its own worker; the replaced one was stopped
        assert old["worker_pid"] != new["worker_pid"]
        wait_until(lambda: not _running(old["worker_pid"]), timeout=30, what="the old worker to exit")


def test_two_replicas_both_converge_on_a_promotion(world: World, start_inference: StartInference) -> None:
    world.promote(world.v1, 1, publish=False)
    with start_inference(**NO_POLL) as first, start_inference(**NO_POLL) as second:
        wait_serving(first, 1)
        wait_serving(second, 1)
        assert len(_fanout_queues(world)) == 2  # one queue per replica: each gets every promotion
        world.promote(world.v2, 2)
        assert wait_serving(first, 2, timeout=30)["sha256"] == world.v2.artifact_sha256
        assert wait_serving(second, 2, timeout=30)["sha256"] == world.v2.artifact_sha256
    assert _fanout_queues(world) == []  # a clean shutdown removes each replica's queue


@pytest.mark.parametrize("runner", ["thread", "process"])
def test_tampered_artifact_is_refused_and_alerted_while_the_old_model_serves(
    world: World, start_inference: StartInference, runner: str
) -> None:
    s3, bucket = boto("s3"), world.topology.home_bucket
    genuine = s3.get_object(Bucket=bucket, Key=world.v2.artifact.key)["Body"].read()
    tampered_key = world.v2.artifact.key.replace("model.pt", "tampered/model.pt")
    s3.put_object(Bucket=bucket, Key=tampered_key, Body=genuine + b"\x00")
    tampered = world.v2.model_copy(update={"artifact": S3Location(bucket=bucket, key=tampered_key)})
    events = world.events()
    world.promote(world.v1, 1, publish=False)
    with start_inference(**NO_POLL, INFERENCE_RUNNER=runner) as url:
        wait_serving(url, 1)
        world.promote(tampered, 3)
        alert = events.wait_for(lambda e: e.type == "model.integrity_failed")[0].payload
        assert (alert.version, alert.expected_sha256) == (3, world.v2.artifact_sha256)  # type: ignore[attr-defined]
        assert alert.actual_sha256 != alert.expected_sha256  # type: ignore[attr-defined]
        answer = httpx.post(f"{url}/v1/predict", json={"texts": ["please refund the duplicate charge"]})
        assert answer.status_code == 200 and answer.json()["model_version"] == 1
        model = httpx.get(f"{url}/v1/model").json()
        assert model["version"] == 1 and "sha256 mismatch" in model["last_error"]
