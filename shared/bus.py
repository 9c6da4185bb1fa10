"""The message bus: one handler table per service, dispatched with idempotency.

Every unit of work (one inbound event x one handler) gets an idempotency key. The SQS consumer and the HTTP routes
that trigger the same work (e.g. prep's `POST /v1/jobs`) both go through `MessageBus.dispatch`, so a redelivered
message, a retried request and a duplicate S3 notification all do the work once.

Events emitted while handling get ids derived from the unit's key: a handler that crashes after publishing and runs
again re-publishes the *same* ids, so consumers downstream de-duplicate them like any redelivery.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.events import Envelope, EventPayload
from shared.idempotency import Begin, IdempotencyStore
from shared.logs import correlation_id_var
from shared.messages import InboundEvent, S3ObjectEvent
from shared.observability import EVENT_AGE_SECONDS, HANDLER_SECONDS
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)
_EVENT_IDS = uuid.UUID("6f1c1f7e-4a8e-4d67-9a53-0c5f7f0e2b10")


class InProgressElsewhere(RuntimeError):
    """Another worker holds the lease on this unit of work; leave the message for later."""


@dataclass
class Lease:
    """The idempotency keys a message holds right now; the consumer's heartbeat extends them."""

    keys: set[str] = field(default_factory=set)


@dataclass
class HandlerContext:
    """What a handler needs besides the event: how to emit events and whose story it is part of."""

    service: str
    key: str
    correlation_id: str
    causation_id: str | None
    publisher: EventPublisher
    emitted: list[Envelope] = field(default_factory=list)

    def bind_correlation(self, correlation_id: str) -> None:
        """Adopt the correlation id found while handling (e.g. in the S3 object's metadata)."""
        self.correlation_id = correlation_id
        correlation_id_var.set(correlation_id)

    async def emit(self, payload: EventPayload) -> Envelope:
        """Publish an event caused by this unit of work (durable when this returns)."""
        name = f"{self.key}#{len(self.emitted)}:{payload.event_type}"
        envelope = Envelope.wrap(
            payload,
            source=self.service,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            event_id=uuid.uuid5(_EVENT_IDS, name).hex,
        )
        await self.publisher.publish(envelope)
        self.emitted.append(envelope)
        return envelope


Handler = Callable[[Any, HandlerContext], Awaitable[None]]
HandlerTable = Mapping[str, Sequence[Handler]]


def handler_name(handler: Handler) -> str:
    target = handler.func if isinstance(handler, functools.partial) else handler
    return getattr(target, "__qualname__", repr(target))


def event_identity(event: InboundEvent) -> str:
    return event.identity if isinstance(event, S3ObjectEvent) else event.id


def _occurred_at(event: InboundEvent) -> float:
    moment = event.event_time if isinstance(event, S3ObjectEvent) else event.occurred_at
    return moment.timestamp()


class MessageBus:
    """Dispatches inbound events to the service's handler table, once per (event, handler)."""

    def __init__(
        self,
        service: str,
        handlers: HandlerTable,
        publisher: EventPublisher,
        idempotency: IdempotencyStore,
        *,
        lease_seconds: float = 60,
        completed_ttl_seconds: float = 7 * 86400,
    ) -> None:
        self.service = service
        self.handlers = handlers
        self.publisher = publisher
        self.idempotency = idempotency
        self.lease_seconds = lease_seconds
        self.completed_ttl_seconds = completed_ttl_seconds

    def handles(self, event_type: str) -> bool:
        return bool(self.handlers.get(event_type))

    async def dispatch(self, event: InboundEvent, lease: Lease | None = None) -> list[HandlerContext]:
        """Run every handler of the event's type that has not run yet. Raises what a handler raises."""
        contexts = []
        for handler in self.handlers.get(event.type, ()):
            ctx = await self._run_once(handler, event, lease if lease is not None else Lease())
            if ctx is not None:
                contexts.append(ctx)
        return contexts

    async def _run_once(self, handler: Handler, event: InboundEvent, lease: Lease) -> HandlerContext | None:
        key = f"{self.service}:{handler_name(handler)}:{event_identity(event)}"
        begun = await self.idempotency.begin(key, self.lease_seconds)
        if begun is Begin.COMPLETED:
            log.info("already done, skipping", extra={"idempotency_key": key})
            return None
        if begun is Begin.IN_PROGRESS:
            raise InProgressElsewhere(key)
        ctx = self._context(key, event)
        lease.keys.add(key)
        try:
            await self._timed(handler, event, ctx)
            await self.idempotency.complete(key, self.completed_ttl_seconds)
        except BaseException:
            await self.idempotency.release(key)
            raise
        finally:
            lease.keys.discard(key)
        return ctx

    def _context(self, key: str, event: InboundEvent) -> HandlerContext:
        if isinstance(event, S3ObjectEvent):  # S3 knows no correlation ids; handlers may bind one from metadata
            correlation, causation = uuid.uuid5(_EVENT_IDS, event.identity).hex, None
        else:
            correlation, causation = event.correlation_id, event.id
        correlation_id_var.set(correlation)
        return HandlerContext(self.service, key, correlation, causation, self.publisher)

    async def _timed(self, handler: Handler, event: InboundEvent, ctx: HandlerContext) -> None:
        EVENT_AGE_SECONDS.labels(self.service, event.type).observe(max(0.0, time.time() - _occurred_at(event)))
        with HANDLER_SECONDS.labels(self.service, event.type).time():
            await handler(event, ctx)

    async def extend(self, lease: Lease) -> None:
        for key in list(lease.keys):
            await self.idempotency.extend(key, self.lease_seconds)
