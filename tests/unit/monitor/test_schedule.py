"""Schedule expressions (EventBridge rate/cron) and the embedded scheduler's firing, restart and catch-up rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.monitor.schedule import EmbeddedScheduler, parse_schedule, slot_event_id
from services.monitor.settings import MonitorSettings
from services.monitor.store import MonitorStore

DAY = 86400.0


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(14 days)", 14 * DAY), ("rate(1 day)", DAY), ("rate(30 minutes)", 1800), ("rate( 2 hours )", 7200)],
)
def test_rate(expression: str, seconds: float) -> None:
    schedule = parse_schedule(expression)
    assert schedule.next_after(1000.0) == 1000.0 + seconds


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 08:00 UTC on Mondays: EventBridge counts day-of-week 1-7 from Sunday, so MON is 2.
        ("cron(0 8 ? * 2 *)", "2026-03-04T12:00:00", "2026-03-09T08:00:00"),
        ("cron(0 8 ? * MON *)", "2026-03-04T12:00:00", "2026-03-09T08:00:00"),
        ("cron(30 6 1,15 * ? *)", "2026-03-02T00:00:00", "2026-03-15T06:30:00"),
        ("cron(0 9 ? * 2-6 *)", "2026-03-07T10:00:00", "2026-03-09T09:00:00"),  # weekdays: Saturday -> Monday
        ("cron(0 0 ? * 1 *)", "2026-03-02T00:00:00", "2026-03-08T00:00:00"),  # Sunday
    ],
)
def test_cron_follows_eventbridge_fields(expression: str, after: str, expected: str) -> None:
    assert parse_schedule(expression).next_after(ts(after)) == ts(expected)


@pytest.mark.parametrize(
    "expression",
    [
        "rate(0 days)",
        "rate(2 weeks)",
        "every day",
        "0 8 * * 1",
        "cron(0 8 * * 1)",
        "cron(0 8 ? * 2 2027)",
        "cron(99 8 ? * 2 *)",
    ],
)
def test_invalid_expressions_are_refused_with_a_reason(expression: str) -> None:
    with pytest.raises(ValueError, match=r"rate|cron|year|valid|positive"):
        parse_schedule(expression)


def test_the_default_schedule_is_biweekly() -> None:
    from shared.settings import CommonSettings

    assert parse_schedule(CommonSettings().drift_schedule).next_after(0.0) == 14 * DAY


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_embedded_scheduler_anchors_fires_and_survives_restarts(store: MonitorStore) -> None:
    fired: list[float] = []

    async def fire(slot: float) -> None:
        fired.append(slot)

    clock = Clock(1_000_000.0)
    schedule = parse_schedule("rate(1 day)")
    scheduler = EmbeddedScheduler(schedule, store, fire, "drift", clock=clock, tick=60)
    assert await scheduler.step() == 60  # first start: anchored now, nothing fired
    assert fired == []
    clock.now += DAY - 10
    assert await scheduler.step() == 10  # due in ten seconds
    clock.now += 10
    assert await scheduler.step() == 0 and fired == [1_000_000.0 + DAY]
    restarted = EmbeddedScheduler(schedule, store, fire, "drift", clock=clock, tick=60)
    assert await restarted.step() == 60 and len(fired) == 1  # a restart neither re-fires nor resets the clock
    clock.now += 3.5 * DAY  # down for three slots: caught up with one run
    assert await restarted.step() == 0 and len(fired) == 2
    assert await restarted.step() == 60 and len(fired) == 2
    state = await store.schedule_state("drift")
    assert state is not None and state["last_fired_at"] == 1_000_000.0 + 4 * DAY


async def test_a_new_expression_reanchors(store: MonitorStore) -> None:
    clock = Clock(5_000.0)

    async def fire(slot: float) -> None:
        raise AssertionError("must not fire")

    await EmbeddedScheduler(parse_schedule("rate(1 day)"), store, fire, "drift", clock=clock).step()
    clock.now += 2 * DAY
    await EmbeddedScheduler(parse_schedule("rate(7 days)"), store, fire, "drift", clock=clock).step()
    state = await store.schedule_state("drift")
    assert state is not None and state["expression"] == "rate(7 days)" and state["last_fired_at"] == clock.now


def test_slot_event_ids_are_deterministic() -> None:
    assert slot_event_id("drift", 100.0) == slot_event_id("drift", 100.0) != slot_event_id("drift", 200.0)


def test_embedded_scheduler_defaults_to_on_against_an_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert MonitorSettings().scheduler_embedded
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert not MonitorSettings().scheduler_embedded
    monkeypatch.setenv("MONITOR_EMBEDDED_SCHEDULER", "true")
    assert MonitorSettings().scheduler_embedded
