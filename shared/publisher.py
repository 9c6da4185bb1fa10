"""Publishing domain events to the one SNS topic, with the attributes subscription filter policies match on."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from shared.events import Envelope
from shared.observability import EVENTS_PUBLISHED

log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


def message_attributes(envelope: Envelope) -> dict[str, dict[str, str]]:
    """`event_type` and `severity` drive the per-queue filter policies; the rest helps tracing."""
    return {
        "event_type": {"DataType": "String", "StringValue": envelope.type},
        "severity": {"DataType": "String", "StringValue": envelope.severity},
        "source": {"DataType": "String", "StringValue": envelope.source},
        "correlation_id": {"DataType": "String", "StringValue": envelope.correlation_id},
    }


class SnsPublisher:
    """Publishes envelopes to SNS. Returns only when SNS has accepted the message (durable)."""

    def __init__(self, sns: Any, topic_arn: str, service: str) -> None:
        self.sns = sns
        self.topic_arn = topic_arn
        self.service = service

    async def publish(self, envelope: Envelope) -> None:
        await self.sns.publish(
            TopicArn=self.topic_arn,
            Message=envelope.model_dump_json(),
            MessageAttributes=message_attributes(envelope),
        )
        EVENTS_PUBLISHED.labels(self.service, envelope.type).inc()
        log.info("published %s", envelope.type, extra={"event_type": envelope.type, "published_id": envelope.id})


class MemoryPublisher:
    """Collects envelopes in a list: the fake of the publishing port for unit tests."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for e in self.published if e.type == event_type]
