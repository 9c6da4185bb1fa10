"""Delivery: once per (event, channel), failures reported and raised, identical alerts collapsed into one message."""

from __future__ import annotations

import pytest

from services.notifier.channels import DeliveryError
from services.notifier.delivery import DeliveryFailed
from services.notifier.tables import deliveries
from shared.bus import HandlerContext, InProgressElsewhere
from shared.events import Envelope
from shared.publisher import MemoryPublisher
from tests.unit.notifier.conftest import FakeSender, NotifierFactory
from tests.unit.notifier.samples import PAYLOADS, envelope

DRIFT = PAYLOADS["drift.detected"]


def _ctx(event: Envelope) -> HandlerContext:
    return HandlerContext("notifier", f"notifier:notify:{event.id}", event.correlation_id, event.id, MemoryPublisher())


async def test_both_channels_get_the_alert_and_notification_sent_is_emitted(make_notifier: NotifierFactory) -> None:
    teams, mail = FakeSender("teams"), FakeSender("email")
    notifier = await make_notifier({"teams": teams, "email": mail})
    event, ctx = envelope(DRIFT), _ctx(envelope(DRIFT))
    await notifier.notify(event, ctx)
    assert [a.event_id for a, _ in teams.sent] == [event.id]
    assert mail.sent[0][1] == ("team@example.com",)
    assert [(e.type, e.payload.channel) for e in ctx.emitted] == [  # type: ignore[attr-defined]
        ("notification.sent", "email"),
        ("notification.sent", "teams"),
    ]


async def test_the_same_event_twice_is_sent_once(make_notifier: NotifierFactory) -> None:
    # The bus would skip a completed message; this is the second line: the delivery log itself.
    teams = FakeSender("teams")
    notifier = await make_notifier({"teams": teams})
    event = envelope(PAYLOADS["training.completed"])
    first, second = _ctx(event), _ctx(event)
    await notifier.notify(event, first)
    await notifier.notify(event, second)
    assert len(teams.sent) == 1 and teams.attempts == 1
    assert first.emitted[0].id == second.emitted[0].id  # re-emitted with the same deterministic id
    (row,) = await notifier.log.recent(channel="teams")
    assert (row["status"], row["attempts"]) == ("sent", 1)


async def test_an_interrupted_send_is_sent_again_at_least_once(make_notifier: NotifierFactory) -> None:
    teams = FakeSender("teams")
    notifier = await make_notifier({"teams": teams})
    event = envelope(PAYLOADS["training.failed"])
    await notifier.notify(event, _ctx(event))
    async with notifier.log.engine.begin() as conn:  # as if a worker were between the send and its record
        await conn.execute(deliveries.update().values(status="sending", lease_until=notifier.log.clock() + 60))
    with pytest.raises(InProgressElsewhere):  # ... and alive: leave the message, it comes back later
        await notifier.notify(event, _ctx(event))
    async with notifier.log.engine.begin() as conn:  # ... and dead (its lease ran out)
        await conn.execute(deliveries.update().values(lease_until=0))
    await notifier.notify(event, _ctx(event))
    assert len(teams.sent) == 2
    (row,) = await notifier.log.recent(channel="teams")
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_transient_failures_are_retried_into_one_delivery(make_notifier: NotifierFactory) -> None:
    teams = FakeSender("teams", [DeliveryError("503", retryable=True)] * 3)
    notifier = await make_notifier({"teams": teams})
    event, ctx = envelope(DRIFT), _ctx(envelope(DRIFT))
    await notifier.notify(event, ctx)
    assert len(teams.sent) == 1 and teams.attempts == 4
    assert ctx.emitted[-1].payload.attempts == 4  # type: ignore[attr-defined]


async def test_a_final_failure_is_recorded_reported_and_raised(make_notifier: NotifierFactory) -> None:
    teams = FakeSender("teams", [DeliveryError("Teams answered 400 Bad Request: bad card", retryable=False)])
    mail = FakeSender("email")
    notifier = await make_notifier({"teams": teams, "email": mail})
    event, ctx = envelope(DRIFT), _ctx(envelope(DRIFT))
    with pytest.raises(DeliveryFailed, match="teams: Teams answered 400"):
        await notifier.notify(event, ctx)
    assert teams.attempts == 1 and len(mail.sent) == 1  # one channel failing does not hold the other back
    failed = [e for e in ctx.emitted if e.type == "notification.failed"]
    assert failed[0].payload.reason == "Teams answered 400 Bad Request: bad card (not retryable)"  # type: ignore[attr-defined]
    (row,) = await notifier.log.recent(status="failed")
    assert row["channel"] == "teams" and "400" in row["reason"]
    # The redelivery tries the failed channel again (a fixed webhook, a redrive from the DLQ) and not the other.
    await notifier.notify(event, _ctx(event))
    assert len(teams.sent) == 1 and len(mail.sent) == 1


async def test_an_unconfigured_channel_is_skipped_and_logged(make_notifier: NotifierFactory) -> None:
    teams = FakeSender("teams")
    notifier = await make_notifier({"teams": teams})  # email routed but no sender
    event = envelope(DRIFT)
    await notifier.notify(event, _ctx(event))
    (skipped,) = await notifier.log.recent(status="skipped")
    assert skipped["channel"] == "email" and skipped["reason"] == "email is not configured"


async def test_identical_alerts_inside_the_window_become_one_message_and_a_summary(
    make_notifier: NotifierFactory,
) -> None:
    teams = FakeSender("teams")
    notifier = await make_notifier({"teams": teams}, collapse_window_seconds=3600)
    events = [envelope(DRIFT.model_copy(update={"run_id": f"run-{n}"})) for n in range(4)]
    for event in events:
        await notifier.notify(event, _ctx(event))
    other = envelope(DRIFT.model_copy(update={"environment": "staging"}))
    await notifier.notify(other, _ctx(other))
    assert [a.event_id for a, _ in teams.sent] == [events[0].id, other.id]
    assert len(await notifier.log.recent(status="collapsed", channel="teams")) == 3

    assert await notifier.flush_windows() == 0  # still open: nothing to summarise yet
    notifier.log.clock = lambda: 4e9  # the windows have ended
    assert await notifier.flush_windows() == 1  # only the window that held alerts back sends a summary
    summary, _ = teams.sent[-1]
    assert summary.repeated == 3 and summary.event_id == f"{events[0].id}:summary:1"
    published = notifier.publisher.published  # type: ignore[attr-defined]
    assert [(e.type, e.payload.collapsed) for e in published] == [("notification.sent", 3)]
    assert await notifier.flush_windows() == 0  # flushed once

    late = envelope(DRIFT.model_copy(update={"run_id": "run-late"}))
    await notifier.notify(late, _ctx(late))  # after the window: a new leader, sent at once
    assert teams.sent[-1][0].event_id == late.id


async def test_a_collapsed_alert_redelivered_is_counted_once(make_notifier: NotifierFactory) -> None:
    teams = FakeSender("teams")
    notifier = await make_notifier({"teams": teams}, collapse_window_seconds=3600)
    first, second = envelope(DRIFT), envelope(DRIFT)
    for event in (first, second, second):
        await notifier.notify(event, _ctx(event))
    notifier.log.clock = lambda: 4e9
    await notifier.flush_windows()
    assert [a.repeated for a, _ in teams.sent] == [0, 1]


async def test_collapse_off_sends_every_alert(make_notifier: NotifierFactory) -> None:
    teams = FakeSender("teams")
    notifier = await make_notifier({"teams": teams}, collapse_window_seconds=0)
    for _ in range(3):
        event = envelope(DRIFT)
        await notifier.notify(event, _ctx(event))
    assert len(teams.sent) == 3
