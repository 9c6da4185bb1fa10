"""At-least-once delivery around prep: redelivered notifications, S3 test events, messages that always fail (DLQ
after 5 receives while others flow), and `POST /v1/jobs` sharing the handler's idempotency."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import quote_plus

import httpx
import pytest

from shared.events import DatasetPrepared
from shared.messages import decode_body
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture, StartPrep, keys_under, put_raw
from tests.support.servers import wait_until
from tests.support.textdata import tickets, to_csv

pytestmark = pytest.mark.integration


def _notification(bucket: str, key: str, etag: str) -> str:
    """An S3 ObjectCreated notification as S3 (and moto) sends it: URL-encoded key with '+' for spaces."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": now,
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "prep-raw",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": 1, "eTag": etag},
        },
    }
    return json.dumps({"Records": [record]})


def _queue(topology: Topology, dlq: bool = False) -> str:
    name = topology.dlq_name("prep") if dlq else topology.queue_name("prep")
    return str(boto("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def _captured_notification(topology: Topology, key: str) -> str:
    """The real notification S3 sent for `key` (left on the queue), to send again as a redelivery would."""
    sqs, queue = boto("sqs"), _queue(topology)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
            "Messages", []
        ):
            sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            if any(getattr(e, "key", None) == key for e in decode_body(message["Body"])):
                return str(message["Body"])
    raise TimeoutError("no notification for the upload")


def test_redelivered_notifications_prepare_once(start_prep: StartPrep, topology: Topology, capture: Capture) -> None:
    key = "raw/again/same file ü.csv"
    put_raw(topology, key, to_csv(tickets(200)))
    body = _captured_notification(topology, key)
    sqs = boto("sqs")
    sqs.send_message(QueueUrl=_queue(topology), MessageBody=body)  # the same notification twice more
    sqs.send_message(QueueUrl=_queue(topology), MessageBody=body)
    with start_prep():
        capture.wait_for(lambda e: e.type == "dataset.prepared")
        capture.poll(4)  # time for the copies to be handled
        wait_until(lambda: _depth(topology) == 0, 30, what="prep queue drained")
    assert len(capture.about(key, "dataset.prepared")) == 1
    assert len([k for k in keys_under(topology, "processed/again/") if k.endswith("manifest.json")]) == 1


def _depth(topology: Topology, dlq: bool = False) -> int:
    attributes = boto("sqs").get_queue_attributes(
        QueueUrl=_queue(topology, dlq),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_test_events_are_skipped_and_failing_messages_reach_the_dlq_while_others_flow(
    start_prep: StartPrep, topology: Topology, capture: Capture
) -> None:
    sqs, queue = boto("sqs"), _queue(topology)
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-01T00:00:00.000Z", "Bucket": "b"}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(test_event))
    sqs.send_message(QueueUrl=queue, MessageBody="this is not an S3 notification")
    foreign = _notification(topology.buckets["staging"], "raw/elsewhere/x.csv", "abc")  # always fails: not our bucket
    sqs.send_message(QueueUrl=queue, MessageBody=foreign)
    with start_prep():
        for i in range(3):  # real uploads keep flowing while the bad messages bounce
            put_raw(topology, f"raw/flow/file-{i}.csv", to_csv(tickets(100 + i)))
            time.sleep(0.5)
        capture.wait_for(lambda e: e.type == "dataset.prepared", want=3)
        wait_until(lambda: _depth(topology, dlq=True) >= 2, 60, what="two messages in the DLQ")
        wait_until(lambda: _depth(topology) == 0, 30, what="prep queue drained")
    dead = sqs.receive_message(
        QueueUrl=_queue(topology, dlq=True), MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert sorted(m["Body"] for m in dead) == sorted(["this is not an S3 notification", foreign])
    assert all(int(m["Attributes"]["ApproximateReceiveCount"]) >= 5 for m in dead)


def test_jobs_api_prepares_on_demand_through_the_same_idempotency(
    start_prep: StartPrep, topology: Topology, capture: Capture
) -> None:
    key = "raw/ondemand/tickets.csv"
    put_raw(topology, key, to_csv(tickets(300)))
    uri = f"s3://{topology.home_bucket}/{key}"
    with start_prep(CONSUMER_ENABLED="false") as url:  # no notifications consumed: only the API triggers work
        answer = httpx.post(f"{url}/v1/jobs", json={"uri": uri}, timeout=30)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        assert answer.headers["location"] == f"/v1/jobs/{job_id}"
        job = wait_until(lambda: _final(url, job_id), 60, what="job done")
        assert job["status"] == "prepared" and job["trigger"] == "api" and job["detail"]["rows_in"] == 300
        again = httpx.post(f"{url}/v1/jobs", json={"uri": uri}, timeout=30)
        assert again.status_code == 200 and again.json()["id"] == job_id
        listed = httpx.get(f"{url}/v1/jobs", params={"dataset": "ondemand"}, timeout=10).json()
        assert [j["id"] for j in listed] == [job_id]
        refused = {
            "s3://other-bucket/raw/x.csv": 400,
            f"s3://{topology.home_bucket}/processed/x.csv": 400,
            f"s3://{topology.home_bucket}/raw/ondemand/_schema.json": 400,
            f"s3://{topology.home_bucket}/raw/ondemand/missing.csv": 404,
            "not a uri": 422,
        }
        for bad, code in refused.items():
            assert httpx.post(f"{url}/v1/jobs", json={"uri": bad}, timeout=10).status_code == code, bad
        assert httpx.get(f"{url}/v1/jobs/nope", timeout=10).status_code == 404
    prepared = capture.wait_for(lambda e: e.type == "dataset.prepared")
    capture.poll(2)
    assert len(capture.about(key, "dataset.prepared")) == 1
    assert prepared[0].payload_as(DatasetPrepared).manifest.uri == job["manifest_uri"]


def _final(url: str, job_id: str) -> dict[str, object] | None:
    job = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
    return job if job["status"] in ("prepared", "rejected", "skipped", "failed") else None
