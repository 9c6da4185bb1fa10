"""Drift-check schedules: EventBridge Scheduler expressions, and the embedded scheduler that runs them locally.

On AWS, EventBridge Scheduler sends `drift.check_scheduled` to the monitor's queue (`shared.provision`). Emulators
store schedules but never fire them (tests/fixtures/aws/EMULATORS.md), so with MONITOR_EMBEDDED_SCHEDULER (on by
default against an emulator) the monitor fires the same expression itself, through the same handler and idempotency.
The last firing is kept in SQL, so a restart neither skips the schedule nor fires it twice; missed slots are caught
up with a single run. Each slot's event id derives from the schedule and the slot time: replicas that fire the same
slot do the work once (the idempotency store is shared).

Expressions (UTC): `rate(<n> minute|minutes|hour|hours|day|days)` and EventBridge's six-field
`cron(minutes hours day-of-month month day-of-week year)`, where day-of-week counts 1-7 from Sunday and `?` means
"any"; it is translated to croniter's five fields (day-of-week 0-6 from Sunday).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from services.monitor.store import MonitorStore

log = logging.getLogger(__name__)
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_SLOTS = uuid.UUID("b6b5d3a4-1f0e-4c59-8a3c-7d2e9f1a0b64")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule expression: a fixed period, or a croniter expression."""

    expression: str
    period: timedelta | None = None
    cron: str | None = None

    def next_after(self, moment: float) -> float:
        """The first firing strictly after `moment` (epoch seconds)."""
        if self.period is not None:
            return moment + self.period.total_seconds()
        assert self.cron is not None
        base = datetime.fromtimestamp(moment, UTC)
        return float(croniter(self.cron, base).get_next(float))


def _dow(field: str) -> str:
    """EventBridge day-of-week numbers (1=SUN..7=SAT) to croniter's (0=SUN..6=SAT); steps and names unchanged."""

    def shift(part: str) -> str:
        head, sep, step = part.partition("/")
        head = re.sub(r"\d+", lambda m: str(int(m.group()) - 1), head)
        return head + sep + step

    def shift_hash(part: str) -> str:  # "6#3": weekday 6, third of the month; only the weekday shifts
        day, sep, nth = part.partition("#")
        return shift(day) + sep + nth

    return ",".join(shift_hash(p) for p in field.split(","))


def parse_schedule(expression: str) -> Schedule:
    """Parse an EventBridge Scheduler expression; ValueError with the reason when it is not one we can run."""
    text = expression.strip()
    if match := _RATE.match(text):
        value, unit = int(match.group(1)), match.group(2).rstrip("s")
        if value < 1:
            raise ValueError(f"{expression!r}: a rate needs a positive value")
        return Schedule(text, period=timedelta(seconds=value * _UNITS[unit]))
    if match := _CRON.match(text):
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ValueError(
                f"{expression!r}: cron() needs 6 fields (minutes hours day-of-month month day-of-week year)"
            )
        minutes, hours, dom, month, dow, year = fields
        if year not in ("*", "?"):
            raise ValueError(f"{expression!r}: a year restriction is not supported by the embedded scheduler")
        cron = " ".join((minutes, hours, dom.replace("?", "*"), month, _dow(dow.replace("?", "*"))))
        if not croniter.is_valid(cron):
            raise ValueError(f"{expression!r}: not a valid cron expression")
        return Schedule(text, cron=cron)
    raise ValueError(f"{expression!r}: expected rate(<n> minutes|hours|days) or cron(<6 fields>)")


def slot_event_id(name: str, slot: float) -> str:
    return uuid.uuid5(_SLOTS, f"{name}@{slot:.0f}").hex


Fire = Callable[[float], Awaitable[None]]


class EmbeddedScheduler:
    """Fires `fire(slot)` at each slot of the schedule; state in SQL."""

    def __init__(
        self,
        schedule: Schedule,
        store: MonitorStore,
        fire: Fire,
        name: str,
        clock: Callable[[], float] = time.time,
        tick: float = 60.0,
    ) -> None:
        self.schedule, self.store, self.fire, self.name = schedule, store, fire, name
        self.clock, self.tick = clock, tick

    async def last_fired(self) -> float:
        """The last slot fired; on first start (or a new expression) the anchor now, without firing."""
        state = await self.store.schedule_state(self.name)
        if state is None or state["expression"] != self.schedule.expression:
            anchor = self.clock()
            await self.store.set_schedule_state(self.name, self.schedule.expression, anchor)
            log.info("drift schedule %s anchored; first check at %s", self.schedule.expression, self._when(anchor))
            return anchor
        return float(state["last_fired_at"])

    async def step(self) -> float:
        """Fire the slot that is due (if one is); returns how long to wait before looking again."""
        due = self.schedule.next_after(await self.last_fired())
        now = self.clock()
        if due > now:
            return min(due - now, self.tick)
        await self.fire(due)
        last = due
        while (following := self.schedule.next_after(last)) <= now:  # missed slots: caught up by this one run
            last = following
        await self.store.set_schedule_state(self.name, self.schedule.expression, last)
        log.info(
            "drift check fired for slot %s; next at %s", self._when(due), self._when(self.schedule.next_after(last))
        )
        return 0.0

    async def run_forever(self) -> None:
        while True:
            try:
                wait = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # the slot stays due: try again after a tick
                log.exception("scheduled drift check failed; retrying in %.0f s", self.tick)
                wait = self.tick
            await asyncio.sleep(wait)

    @staticmethod
    def _when(moment: float) -> str:
        return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
