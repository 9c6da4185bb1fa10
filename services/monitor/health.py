"""Pipeline health: dead letters and stuck backlogs in every queue of the topology, announced as `pipeline.failed`.

Dead-letter queues: `ApproximateNumberOfMessages` (+ not visible) says how many messages gave up after
`MAX_RECEIVE_COUNT` failed attempts. Peeking a DLQ is harmless (nothing consumes it, a receive only bumps its receive
count), so the watcher receives up to ten with `VisibilityTimeout=0`: their `SentTimestamp` (kept when SQS moves a
message to the DLQ) gives the age of the oldest one, and the newest becomes the alert's sample (its event type, id,
correlation id and the start of its body; the error itself is in the failing service's logs under that correlation
id, since SQS cannot carry it).

Main queues: on AWS, CloudWatch's `ApproximateAgeOfOldestMessage` is the right signal, but emulators have no
CloudWatch metrics for SQS, and peeking a main queue would count as a receive and push its messages toward the DLQ.
So the watcher measures the backlog's age instead: how long the queue has had visible messages at every inspection
without once being empty. That is a lower bound of the oldest message's age (sampled every
`MONITOR_HEALTH_INTERVAL_SECONDS`); past `MONITOR_MAX_QUEUE_AGE_SECONDS` the work is stuck.

De-duplication (state in SQL, shared by replicas): a DLQ is announced when it first holds messages and again only
when more arrive or `MONITOR_REALERT_SECONDS` passed; a backlog once per episode and then every realert period. The
state clears when the queue empties. Event ids derive from the state, so replicas announcing the same thing publish
the same id (the notifier delivers it once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.monitor.settings import MonitorSettings
from services.monitor.store import MonitorStore
from shared.events import Envelope, PipelineFailed
from shared.messages import PoisonMessage, S3ObjectEvent, decode_body
from shared.publisher import EventPublisher
from shared.topology import MAX_RECEIVE_COUNT, Topology

log = logging.getLogger(__name__)
_ALERT_IDS = uuid.UUID("5c7a9e41-0d2b-4f3e-8b61-2e4d9c0f7a13")
SAMPLE_CHARS = 600


@dataclass
class QueueHealth:
    queue: str
    service: str
    kind: str  # queue | dlq
    visible: int
    in_flight: int
    oldest_age_seconds: float | None = None
    sample: str | None = None


def describe_message(body: str) -> str:
    """A short, readable account of a dead letter: what event it carried, or why it could not be read."""
    try:
        events = decode_body(body)
    except PoisonMessage as exc:
        return f"unreadable message ({exc}): {body[:SAMPLE_CHARS]}"
    if not events:
        return "an S3 test event"
    event = events[0]
    if isinstance(event, S3ObjectEvent):
        return f"S3 {event.event_name} s3://{event.bucket}/{event.key}"
    payload = event.payload.model_dump_json()
    return (
        f"{event.type} id={event.id} correlation_id={event.correlation_id} from {event.source}: "
        f"{payload[:SAMPLE_CHARS]}"
    )


class PipelineWatcher:
    """Inspects every queue and DLQ of the topology; publishes `pipeline.failed` for dead letters and old backlogs."""

    def __init__(
        self,
        sqs: Any,
        topology: Topology,
        store: MonitorStore,
        publisher: EventPublisher,
        settings: MonitorSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sqs, self.topology, self.store, self.publisher = sqs, topology, store, publisher
        self.settings, self.clock = settings, clock
        self._urls: dict[str, str] = {}
        self._backlog_since: dict[str, float] = {}
        self.last: list[QueueHealth] = []
        self.last_inspected_at: float | None = None
        self._one_at_a_time = asyncio.Lock()  # the periodic pass and `POST /v1/pipeline/inspect` never overlap

    async def run_forever(self) -> None:
        while True:
            try:
                await self.inspect()
            except asyncio.CancelledError:
                raise
            except Exception:  # an emulator restart or a throttled call: look again next time
                log.exception("pipeline health inspection failed")
            await asyncio.sleep(self.settings.health_interval_seconds)

    async def inspect(self) -> list[PipelineFailed]:
        """One pass over every queue; returns (and publishes) the alerts it raised."""
        async with self._one_at_a_time:
            return await self._inspect()

    async def _inspect(self) -> list[PipelineFailed]:
        health: list[QueueHealth] = []
        raised: list[PipelineFailed] = []
        for spec in self.topology.static_queues():
            for name, kind in (
                (self.topology.dlq_name(spec.service), "dlq"),
                (self.topology.queue_name(spec.service), "queue"),
            ):
                state = await self._state(name, spec.service, kind)
                if state is None:
                    continue
                health.append(state)
                alert = await (self._dead_letters(state) if kind == "dlq" else self._backlog(state))
                if alert is not None:
                    raised.append(alert)
        self.last, self.last_inspected_at = health, self.clock()
        return raised

    def snapshot(self) -> dict[str, Any]:
        return {"inspected_at": self.last_inspected_at, "queues": [asdict(h) for h in self.last]}

    async def _url(self, name: str) -> str | None:
        if name not in self._urls:
            try:
                self._urls[name] = (await self.sqs.get_queue_url(QueueName=name))["QueueUrl"]
            except ClientError:
                log.warning("queue %s does not exist (run make provision); not watched", name)
                return None
        return self._urls[name]

    async def _state(self, name: str, service: str, kind: str) -> QueueHealth | None:
        url = await self._url(name)
        if url is None:
            return None
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = (await self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))["Attributes"]
        health = QueueHealth(name, service, kind, int(attributes.get(names[0], 0)), int(attributes.get(names[1], 0)))
        if kind == "dlq" and health.visible:
            await self._peek(url, health)
        return health

    async def _peek(self, url: str, health: QueueHealth) -> None:
        with contextlib.suppress(BotoCoreError, ClientError):
            got = await self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0, AttributeNames=["All"]
            )
            messages = got.get("Messages", [])
            if not messages:
                return
            sent = [int(m.get("Attributes", {}).get("SentTimestamp", "0")) / 1000 for m in messages]
            newest = messages[max(range(len(messages)), key=lambda i: sent[i])]
            if min(sent) > 0:
                health.oldest_age_seconds = round(max(0.0, self.clock() - min(sent)), 1)
            health.sample = describe_message(newest.get("Body", ""))

    async def _dead_letters(self, health: QueueHealth) -> PipelineFailed | None:
        key, count, now = f"dlq:{health.queue}", health.visible + health.in_flight, self.clock()
        state = await self.store.alert_state(key)
        if count == 0:
            if state is not None:
                await self.store.clear_alert_state(key)
            return None
        stale = state is not None and self._realert_due(state, now)
        if state is not None and count <= state["level"] and not stale:
            if count < state["level"]:  # some were redriven or purged: new arrivals alert again
                await self.store.set_alert_state(key, count, state["alerted_at"], state["alerts"])
            return None
        alerts = (state["alerts"] if state else 0) + 1
        reason = (
            f"{count} message(s) in the dead-letter queue of {health.service}: each failed {MAX_RECEIVE_COUNT} "
            f"attempts (the error is in the {health.service} logs under the message's correlation id)"
        )
        payload = PipelineFailed(
            queue=health.queue,
            reason=reason,
            dead_letters=count,
            oldest_age_seconds=health.oldest_age_seconds,
            sample_message=health.sample,
        )
        # Publish first, then remember: a crash in between repeats the alert (same id) rather than losing it.
        await self._publish(payload, f"{key}:{count}:{alerts}")
        await self.store.set_alert_state(key, count, now, alerts)
        return payload

    async def _backlog(self, health: QueueHealth) -> PipelineFailed | None:
        key, now = f"age:{health.queue}", self.clock()
        if health.visible == 0:
            self._backlog_since.pop(health.queue, None)
            if await self.store.alert_state(key) is not None:
                await self.store.clear_alert_state(key)
            return None
        since = self._backlog_since.setdefault(health.queue, now)
        health.oldest_age_seconds = round(now - since, 1)
        if now - since < self.settings.max_queue_age_seconds:
            return None
        state = await self.store.alert_state(key)
        if state is not None and not self._realert_due(state, now):
            return None
        alerts = (state["alerts"] if state else 0) + 1
        reason = (
            f"{health.visible} message(s) waiting in {health.queue} for at least {now - since:.0f} s "
            f"(MONITOR_MAX_QUEUE_AGE_SECONDS={self.settings.max_queue_age_seconds:.0f}): is {health.service} running?"
        )
        payload = PipelineFailed(queue=health.queue, reason=reason, oldest_age_seconds=health.oldest_age_seconds)
        await self._publish(payload, f"{key}:{since:.0f}:{alerts}")
        await self.store.set_alert_state(key, since, now, alerts)
        return payload

    def _realert_due(self, state: dict[str, Any], now: float) -> bool:
        return self.settings.realert_seconds > 0 and now - state["alerted_at"] >= self.settings.realert_seconds

    async def _publish(self, payload: PipelineFailed, identity: str) -> None:
        envelope = Envelope.wrap(
            payload,
            source="monitor",
            correlation_id=f"pipeline-health:{payload.queue}",
            event_id=uuid.uuid5(_ALERT_IDS, f"{self.topology.namespace}:{identity}").hex,
        )
        await self.publisher.publish(envelope)
        log.warning("pipeline.failed: %s", payload.reason, extra={"queue": payload.queue})
