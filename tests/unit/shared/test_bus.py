from __future__ import annotations

import functools

import pytest

from shared.bus import HandlerContext, InProgressElsewhere, MessageBus
from shared.events import DatasetRejected, Envelope, S3Location, TrainingFailed
from shared.idempotency import MemoryIdempotencyStore
from shared.publisher import MemoryPublisher


def _event() -> Envelope:
    payload = DatasetRejected(dataset="d", source=S3Location(bucket="b", key="raw/k"), reason="r")
    return Envelope.wrap(payload, source="prep", correlation_id="corr-1")


async def _emit_failure(calls: list[str], event: Envelope, ctx: HandlerContext) -> None:
    calls.append(event.id)
    await ctx.emit(TrainingFailed(dataset="d", reason="because"))


def _bus(handler: object, publisher: MemoryPublisher, store: MemoryIdempotencyStore) -> MessageBus:
    return MessageBus("svc", {"dataset.rejected": [handler]}, publisher, store)  # type: ignore[list-item]


async def test_handler_runs_once_and_events_carry_the_story() -> None:
    calls: list[str] = []
    publisher, store = MemoryPublisher(), MemoryIdempotencyStore()
    bus = _bus(functools.partial(_emit_failure, calls), publisher, store)
    event = _event()
    await bus.dispatch(event)
    await bus.dispatch(event)
    assert calls == [event.id]
    (emitted,) = publisher.published
    assert emitted.correlation_id == "corr-1" and emitted.causation_id == event.id and emitted.source == "svc"


async def test_rerun_after_crash_republishes_the_same_event_ids() -> None:
    # Crash after publishing but before completing: the retry's events have the same ids, so they de-duplicate.
    calls: list[str] = []
    first, second = MemoryPublisher(), MemoryPublisher()
    event = _event()
    await _bus(functools.partial(_emit_failure, calls), first, MemoryIdempotencyStore()).dispatch(event)
    await _bus(functools.partial(_emit_failure, calls), second, MemoryIdempotencyStore()).dispatch(event)
    assert [e.id for e in first.published] == [e.id for e in second.published]


async def test_failure_releases_the_key_for_a_retry() -> None:
    attempts: list[int] = []

    async def flaky(event: Envelope, ctx: HandlerContext) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient")

    bus = _bus(flaky, MemoryPublisher(), MemoryIdempotencyStore())
    with pytest.raises(RuntimeError):
        await bus.dispatch(_event())
    event = _event()
    await bus.dispatch(event)
    assert len(attempts) == 2


async def test_work_held_elsewhere_is_left_alone() -> None:
    store = MemoryIdempotencyStore()
    event = _event()

    async def noop(event: Envelope, ctx: HandlerContext) -> None:
        return None

    bus = _bus(noop, MemoryPublisher(), store)
    await store.begin(f"svc:{noop.__qualname__}:{event.id}", 60)
    with pytest.raises(InProgressElsewhere):
        await bus.dispatch(event)


async def test_events_without_handlers_are_ignored() -> None:
    bus = MessageBus("svc", {}, MemoryPublisher(), MemoryIdempotencyStore())
    assert await bus.dispatch(_event()) == []
