"""The shared SQS consumer against a real emulator: delivery, idempotency, heartbeat, DLQ, shutdown."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from shared.aws import AwsClients
from shared.bus import HandlerContext, MessageBus
from shared.consumer import SqsConsumer
from shared.db import create_engine
from shared.events import DatasetRejected, Envelope, S3Location
from shared.idempotency import SqlIdempotencyStore
from shared.messages import S3_OBJECT_CREATED, S3ObjectEvent
from shared.publisher import MemoryPublisher
from shared.settings import ConsumerSettings
from shared.topology import Topology
from tests.conftest import boto

pytestmark = pytest.mark.integration


def _envelope(n: int) -> str:
    payload = DatasetRejected(dataset="d", source=S3Location(bucket="b", key=f"raw/{n}"), reason="r")
    return Envelope.wrap(payload, source="test", correlation_id=f"c{n}").model_dump_json()


async def _consume(
    topology: Topology,
    tmp_path: Any,
    handlers: dict[str, Any],
    settings: ConsumerSettings,
    seconds: float,
    service: str = "prep",
) -> MessageBus:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/idem.db")
    store = SqlIdempotencyStore(engine)
    await store.create_schema()
    bus = MessageBus("test", handlers, MemoryPublisher(), store, lease_seconds=settings.visibility_timeout)
    async with AwsClients("us-east-1") as aws:
        sqs = await aws.sqs()
        url = (await sqs.get_queue_url(QueueName=topology.queue_name(service)))["QueueUrl"]
        consumer = SqsConsumer(sqs, url, bus, settings)
        await consumer.start()
        await asyncio.sleep(seconds)
        await consumer.stop()
    await engine.dispose()
    return bus


async def test_s3_put_reaches_handler_with_decoded_key(topology: Topology, tmp_path: Any) -> None:
    seen: list[S3ObjectEvent] = []

    async def on_created(event: S3ObjectEvent, ctx: HandlerContext) -> None:
        seen.append(event)

    boto("s3").put_object(Bucket=topology.home_bucket, Key="raw/my data/naïve café.csv", Body=b"x,y\n")
    settings = ConsumerSettings(wait_seconds=1, concurrency=2)
    await _consume(topology, tmp_path, {S3_OBJECT_CREATED: [on_created]}, settings, 3)
    assert [e.key for e in seen] == ["raw/my data/naïve café.csv"]


async def test_duplicate_delivery_runs_handler_once(topology: Topology, tmp_path: Any) -> None:
    calls: list[str] = []

    async def on_rejected(event: Envelope, ctx: HandlerContext) -> None:
        calls.append(event.id)

    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=topology.queue_name("notifier"))["QueueUrl"]
    body = _envelope(1)
    sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody=body)
    settings = ConsumerSettings(wait_seconds=1, concurrency=1)
    await _consume(topology, tmp_path, {"dataset.rejected": [on_rejected]}, settings, 3, service="notifier")
    assert len(calls) == 1
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )


async def test_poison_and_failing_messages_reach_dlq_while_others_flow(topology: Topology, tmp_path: Any) -> None:
    handled: list[str] = []

    async def flaky(event: Envelope, ctx: HandlerContext) -> None:
        if event.correlation_id == "c0":
            raise RuntimeError("always fails")
        handled.append(event.correlation_id)

    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=topology.queue_name("notifier"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=_envelope(0))
    sqs.send_message(QueueUrl=url, MessageBody="not json at all")

    async def feed() -> None:
        for n in range(1, 6):
            await asyncio.to_thread(sqs.send_message, QueueUrl=url, MessageBody=_envelope(n))
            await asyncio.sleep(0.5)

    settings = ConsumerSettings(wait_seconds=1, concurrency=2, retry_backoff_max=0)
    feeder = asyncio.create_task(feed())
    await _consume(topology, tmp_path, {"dataset.rejected": [flaky]}, settings, 8, service="notifier")
    await feeder
    assert sorted(handled) == [f"c{n}" for n in range(1, 6)]
    dlq = sqs.get_queue_url(QueueName=topology.dlq_name("notifier"))["QueueUrl"]
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"])
    bodies = sorted(m["Body"] for m in dead.get("Messages", []))
    assert len(bodies) == 2
    assert "not json at all" in bodies
    assert any(json.loads(b)["correlation_id"] == "c0" for b in bodies if b.startswith("{"))


async def test_heartbeat_keeps_long_work_invisible(topology: Topology, tmp_path: Any) -> None:
    starts: list[float] = []

    async def slow(event: Envelope, ctx: HandlerContext) -> None:
        starts.append(time.monotonic())
        await asyncio.sleep(12)

    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=topology.queue_name("notifier"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=_envelope(7))

    async def intruder() -> list[Any]:
        # Another worker polling after the 5 s visibility timeout: it must see nothing while the work goes on.
        await asyncio.sleep(8)
        got = await asyncio.to_thread(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=1)
        return list(got.get("Messages", []))

    settings = ConsumerSettings(wait_seconds=1, concurrency=2, visibility_timeout=5)
    peek = asyncio.create_task(intruder())
    await _consume(topology, tmp_path, {"dataset.rejected": [slow]}, settings, 14, service="notifier")
    assert await peek == []
    assert len(starts) == 1
