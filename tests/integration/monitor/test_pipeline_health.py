"""The monitor watches every queue of the topology: dead letters and stuck backlogs become `pipeline.failed` events
(with the failed message's sample), announced once per change, not at every inspection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from services.monitor.app import SPEC
from shared.events import DatasetIngested, Envelope, PipelineFailed, S3Location, TrainingRequested
from shared.service import create_app
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture, subscribe_capture
from tests.support.servers import running

pytestmark = pytest.mark.integration
WATCH = {
    "CONSUMER_WAIT_SECONDS": "1",
    "MONITOR_EMBEDDED_SCHEDULER": "false",
    "MONITOR_HEALTH_INTERVAL_SECONDS": "0.5",
    "MONITOR_MAX_QUEUE_AGE_SECONDS": "1",
    "MONITOR_REALERT_SECONDS": "3600",
}


@contextmanager
def monitor(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in WATCH.items():
        monkeypatch.setenv(name, value)
    with running(create_app(SPEC)) as url:
        yield url


def dead_letter(topology: Topology, service: str, payload: object) -> None:
    envelope = Envelope.wrap(payload, source="ingest", correlation_id="corr-dead")  # type: ignore[arg-type]
    url = boto("sqs").get_queue_url(QueueName=topology.dlq_name(service))["QueueUrl"]
    boto("sqs").send_message(QueueUrl=url, MessageBody=envelope.model_dump_json())


def about(capture: Capture, queue: str) -> list[PipelineFailed]:
    return [
        e.payload_as(PipelineFailed) for e in capture.seen if e.type == "pipeline.failed" and e.payload.queue == queue
    ]  # type: ignore[attr-defined]


def test_dead_letters_and_stuck_backlogs_are_announced_once(
    topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = subscribe_capture(topology)
    ingested = DatasetIngested(
        dataset="tickets",
        upload_id="u-1",
        source="upload",
        location=S3Location(bucket=topology.home_bucket, key="raw/tickets/a.csv"),
        size_bytes=10,
        filename="a.csv",
    )
    dead_letter(topology, "prep", ingested)
    trainer = boto("sqs").get_queue_url(QueueName=topology.queue_name("trainer"))["QueueUrl"]
    request = Envelope.wrap(
        TrainingRequested(dataset="tickets", reason="test", requested_by="t"), source="t", correlation_id="c"
    )
    boto("sqs").send_message(QueueUrl=trainer, MessageBody=request.model_dump_json())  # nobody consumes it here
    dlq = topology.dlq_name("prep")
    with monitor(monkeypatch) as url:
        capture.wait_for(lambda e: e.type == "pipeline.failed" and e.payload.queue == dlq, timeout=60)  # type: ignore[attr-defined]
        capture.wait_for(
            lambda e: e.type == "pipeline.failed" and e.payload.queue == topology.queue_name("trainer"), timeout=60
        )  # type: ignore[attr-defined]
        (first,) = about(capture, dlq)
        assert first.dead_letters == 1 and "prep" in first.reason and "5 attempts" in first.reason
        assert first.sample_message is not None and "dataset.ingested" in first.sample_message
        assert "correlation_id=corr-dead" in first.sample_message
        assert first.oldest_age_seconds is not None and first.oldest_age_seconds >= 0
        (stuck,) = about(capture, topology.queue_name("trainer"))
        assert "waiting" in stuck.reason and stuck.oldest_age_seconds is not None and stuck.oldest_age_seconds >= 1

        for _ in range(3):  # the same dead letter, inspected again and again: no new alert
            inspected = httpx.post(f"{url}/v1/pipeline/inspect", timeout=30).json()
            assert not [a for a in inspected["alerts"] if a["queue"] == dlq]
        capture.poll(2)
        assert len(about(capture, dlq)) == 1 and len(about(capture, topology.queue_name("trainer"))) == 1

        dead_letter(topology, "prep", ingested)  # one more: the operators hear about it
        capture.wait_for(lambda e: e.type == "pipeline.failed" and e.payload.queue == dlq, want=2, timeout=60)  # type: ignore[attr-defined]
        assert [a.dead_letters for a in about(capture, dlq)] == [1, 2]
        state = httpx.get(f"{url}/v1/pipeline", timeout=10).json()
        shown = {q["queue"]: q for q in state["queues"]}
        # The watcher peeks at dead letters (VisibilityTimeout=0), so an inspection may catch one of them in flight.
        assert shown[dlq]["visible"] + shown[dlq]["in_flight"] == 2 and shown[dlq]["kind"] == "dlq"
        assert set(shown) >= {topology.queue_name(s.service) for s in topology.static_queues()}
