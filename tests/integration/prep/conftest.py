"""The real prep app against the test emulator, and a queue that sees every event published on the topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.prep.app import SPEC
from shared.events import Envelope
from shared.messages import decode_body
from shared.service import create_app
from shared.topology import Topology
from tests.conftest import boto
from tests.support.servers import running

StartPrep = Callable[..., AbstractContextManager[str]]
FAST_CONSUMER = {"CONSUMER_WAIT_SECONDS": "1", "CONSUMER_VISIBILITY_TIMEOUT": "5", "CONSUMER_RETRY_BACKOFF_MAX": "0"}


@pytest.fixture
def start_prep(topology: Topology, monkeypatch: pytest.MonkeyPatch) -> StartPrep:
    """`with start_prep(PREP_X=...) as url:` runs a fresh prep app (lifespan, consumer and all) with those settings."""

    @contextmanager
    def start(**env: str) -> Iterator[str]:
        for name, value in {**FAST_CONSUMER, "PREP_MIN_PER_CLASS": "2", **env}.items():
            monkeypatch.setenv(name, value)
        with running(create_app(SPEC)) as url:
            yield url

    return start


@dataclass
class Capture:
    """An SQS queue subscribed to the events topic without a filter: everything published lands here."""

    url: str
    seen: list[Envelope] = field(default_factory=list)

    def poll(self, seconds: float = 1.0) -> list[Envelope]:
        sqs, deadline = boto("sqs"), time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in got.get("Messages", []):
                self.seen += [e for e in decode_body(message["Body"]) if isinstance(e, Envelope)]
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return self.seen

    def wait_for(self, predicate: Callable[[Envelope], bool], want: int = 1, timeout: float = 60) -> list[Envelope]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.poll(1.0) if predicate(e)]
            if len(found) >= want:
                return found
        raise TimeoutError(f"fewer than {want} matching events within {timeout}s; seen: {[e.type for e in self.seen]}")

    def about(self, key: str, event_type: str | None = None) -> list[Envelope]:
        """Events whose payload's source is `key` (optionally of one type), from what was polled so far."""
        return [
            e
            for e in self.seen
            if getattr(getattr(e.payload, "source", None), "key", None) == key
            and (event_type is None or e.type == event_type)
        ]


def subscribe_capture(topology: Topology) -> Capture:
    sqs, sns = boto("sqs"), boto("sns")
    url = sqs.create_queue(QueueName=f"{topology.namespace}-capture-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = topology.topic_arn(boto("sts").get_caller_identity()["Account"])
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
    }
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}
    )
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return Capture(url)


@pytest.fixture
def capture(topology: Topology) -> Capture:
    return subscribe_capture(topology)


def put_raw(topology: Topology, key: str, body: bytes, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    return dict(boto("s3").put_object(Bucket=topology.home_bucket, Key=key, Body=body, Metadata=metadata or {}))


def get_json(topology: Topology, key: str) -> dict[str, Any]:
    return dict(json.loads(boto("s3").get_object(Bucket=topology.home_bucket, Key=key)["Body"].read()))


def get_text(topology: Topology, key: str) -> str:
    return str(boto("s3").get_object(Bucket=topology.home_bucket, Key=key)["Body"].read().decode("utf-8"))


def keys_under(topology: Topology, prefix: str) -> list[str]:
    pages = boto("s3").get_paginator("list_objects_v2").paginate(Bucket=topology.home_bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))
