"""Per-replica fan-out queues against the emulator: every replica gets the event, stale queues are swept."""

from __future__ import annotations

import json
import time

import pytest

from shared.aws import AwsClients
from shared.events import Envelope, ModelPromoted, S3Location
from shared.fanout import LAST_SEEN_TAG, ensure_replica_queue, sweep_stale
from shared.messages import decode_body
from shared.publisher import message_attributes
from shared.topology import Topology
from tests.conftest import boto

pytestmark = pytest.mark.integration


def _publish(topology: Topology, account: str, event_type: str) -> None:
    payload = ModelPromoted(
        model_name="m",
        version=2,
        environment="dev",
        artifact=S3Location(bucket="b", key="k"),
        artifact_sha256="x",
        actor="t",
    )
    envelope = Envelope.wrap(payload, source="test", correlation_id="c")
    attributes = {**message_attributes(envelope), "event_type": {"DataType": "String", "StringValue": event_type}}
    boto("sns").publish(
        TopicArn=topology.topic_arn(account), Message=envelope.model_dump_json(), MessageAttributes=attributes
    )


def _receive(url: str) -> list[str]:
    got = boto("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    return [e.type for m in got.get("Messages", []) for e in decode_body(m["Body"])]


async def test_each_replica_gets_every_filtered_event_and_stale_queues_are_swept(topology: Topology) -> None:
    account = boto("sts").get_caller_identity()["Account"]
    async with AwsClients("us-east-1") as aws:
        sqs, sns = await aws.sqs(), await aws.sns()
        a = await ensure_replica_queue(sqs, sns, topology, "inference", "a", account)
        b = await ensure_replica_queue(sqs, sns, topology, "inference", "b", account)
        _publish(topology, account, "model.promoted")
        _publish(topology, account, "dataset.prepared")  # filtered out by the spec's policy
        assert _receive(a.queue_url) == ["model.promoted"]
        assert _receive(b.queue_url) == ["model.promoted"]
        attrs = boto("sqs").get_queue_attributes(QueueUrl=a.queue_url, AttributeNames=["All"])["Attributes"]
        assert int(attrs["MessageRetentionPeriod"]) <= 300 and "RedrivePolicy" in attrs
        # b stops heart-beating (a crashed replica): the sweep removes its queue and subscription, not a's.
        await sqs.tag_queue(QueueUrl=b.queue_url, Tags={LAST_SEEN_TAG: str(int(time.time()) - 3600)})
        await a.heartbeat()
        removed = await sweep_stale(sqs, sns, topology, "inference", account)
        assert removed == [b.queue_url]
        subs = boto("sns").list_subscriptions_by_topic(TopicArn=topology.topic_arn(account))["Subscriptions"]
        assert [s["Endpoint"] for s in subs if s["Endpoint"] in (a.queue_arn, b.queue_arn)] == [a.queue_arn]
        await a.remove()
    names = json.dumps(boto("sqs").list_queues(QueueNamePrefix=f"{topology.namespace}-inference-").get("QueueUrls"))
    assert "-inference-a" not in names and "-inference-b" not in names
