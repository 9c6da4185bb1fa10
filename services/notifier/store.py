"""The durable delivery log and the collapse windows, in SQL (SQLite locally, PostgreSQL shared by replicas).

Deliveries: one row per (event id, channel), unique. Its states:
- `sending`: claimed, an attempt is under way while `lease_until` lies ahead (another worker asking gets
  `IN_PROGRESS`); once the lease has passed, its sender died, possibly after sending (see `Claim.resumed`);
- `sent`, `failed` (the last try ended without success; a redelivery of the message tries again), `collapsed` (held
  back by an open window: it is counted in the window's summary), `skipped` (the channel is not configured).

Windows: per (channel, collapse key), at most one `open` window (a partial unique index), so two workers that see
the same new alert at once cannot both become its leader. An open window counts the identical alerts it holds back;
when it ends, the flusher claims it (`flushing`, with a lease), sends one summary if it held any back, and marks it
`flushed`.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.alerts import Alert
from services.notifier.tables import deliveries, metadata, windows


class ClaimKind(enum.Enum):
    SEND = "send"  # this caller sends now
    DONE = "done"  # a terminal record exists (sent, collapsed, skipped): nothing to send
    COLLAPSED = "collapsed"  # held back by an open window (recorded now)
    IN_PROGRESS = "in_progress"  # another live worker is sending it right now


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    delivery: dict[str, Any]
    resumed: bool = False  # an earlier attempt never recorded its outcome (crash between send and record)


@dataclass(frozen=True)
class Window:
    id: int
    channel: str
    leader_event_id: str
    envelope: str
    recipients: list[str]
    opened_at: float
    suppressed: int


@dataclass(frozen=True)
class Target:
    """Who a delivery goes to: the recipients, how to show them (masked), and the alert's rendered title."""

    recipients: tuple[str, ...]
    shown: str
    title: str


class _LostRace(Exception):
    pass


TERMINAL = ("sent", "collapsed", "skipped")


class DeliveryLog:
    """Deliveries and collapse windows on one SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        # SQLite cannot upgrade a read into a write while another connection writes; deciding one claim at a time
        # per process avoids that, and the unique constraints settle races between processes (PostgreSQL).
        self._decide = asyncio.Lock()

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def claim(
        self, alert: Alert, channel: str, target: Target, window_seconds: float, lease_seconds: float
    ) -> Claim:
        """Decide what this (event, channel) needs: send it, nothing (already done, or someone is on it), or count
        it in a window. A SEND claim holds a lease for `lease_seconds` (extend it with `attempted`)."""
        for _ in range(5):
            try:
                async with self._decide, self.engine.begin() as conn:
                    return await self._claim(conn, alert, channel, target, window_seconds, lease_seconds)
            except (IntegrityError, _LostRace):  # another process got there first: look again
                continue
        raise RuntimeError(f"could not claim delivery of {alert.event_id} to {channel}")

    async def _claim(
        self,
        conn: AsyncConnection,
        alert: Alert,
        channel: str,
        target: Target,
        window_seconds: float,
        lease_seconds: float,
    ) -> Claim:
        now = self.clock()
        existing = await self._row(conn, alert.event_id, channel)
        if existing is not None:
            if existing["status"] in TERMINAL:
                return Claim(ClaimKind.DONE, existing)
            resumed = existing["status"] == "sending"
            if resumed and existing["lease_until"] > now:
                return Claim(ClaimKind.IN_PROGRESS, existing)
            # Compare-and-set on the row we read: of two workers taking over the same row, one wins.
            taken = await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == existing["id"], deliveries.c.updated_at == existing["updated_at"])
                .values(status="sending", lease_until=now + lease_seconds, updated_at=now)
            )
            if taken.rowcount != 1:
                raise _LostRace
            return Claim(ClaimKind.SEND, {**existing, "status": "sending"}, resumed=resumed)
        window_id = None
        if alert.collapsible and window_seconds > 0:
            window = await self._open_window(conn, channel, alert.collapse_key)
            if window is not None and window["closes_at"] > now and window["leader_event_id"] != alert.event_id:
                counted = await conn.execute(
                    update(windows)
                    .where(windows.c.id == window["id"], windows.c.state == "open")
                    .values(suppressed=windows.c.suppressed + 1)
                )
                if counted.rowcount != 1:  # the flusher took the window meanwhile
                    raise _LostRace
                row = await self._insert(conn, alert, channel, target, "collapsed", window["id"], now, 0.0)
                return Claim(ClaimKind.COLLAPSED, row)
            if window is not None:  # ended, not yet flushed: hand it to the flusher, open a new one
                await conn.execute(update(windows).where(windows.c.id == window["id"]).values(state="due"))
            window_id = await self._new_window(conn, alert, channel, target.recipients, now, window_seconds)
        row = await self._insert(conn, alert, channel, target, "sending", window_id, now, now + lease_seconds)
        return Claim(ClaimKind.SEND, row)

    async def _row(self, conn: AsyncConnection, event_id: str, channel: str) -> dict[str, Any] | None:
        query = select(deliveries).where(deliveries.c.event_id == event_id, deliveries.c.channel == channel)
        row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def _open_window(self, conn: AsyncConnection, channel: str, key: str) -> dict[str, Any] | None:
        query = select(windows).where(
            windows.c.channel == channel, windows.c.collapse_key == key, windows.c.state == "open"
        )
        row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def _new_window(
        self, conn: AsyncConnection, alert: Alert, channel: str, recipients: Sequence[str], now: float, length: float
    ) -> int:
        result = await conn.execute(
            insert(windows).values(
                channel=channel,
                collapse_key=alert.collapse_key,
                leader_event_id=alert.event_id,
                envelope=alert.envelope.model_dump_json() if alert.envelope else "{}",
                recipients=json.dumps(list(recipients)),
                opened_at=now,
                closes_at=now + length,
                suppressed=0,
                state="open",
                claimed_until=0.0,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def _insert(
        self,
        conn: AsyncConnection,
        alert: Alert,
        channel: str,
        target: Target,
        status: str,
        window_id: int | None,
        now: float,
        lease_until: float,
    ) -> dict[str, Any]:
        values = {
            "event_id": alert.event_id,
            "channel": channel,
            "event_type": alert.event_type,
            "severity": alert.severity,
            "status": status,
            "title": target.title[:300],
            "target": target.shown[:1000],
            "attempts": 0,
            "reason": None,
            "collapsed": max(1, alert.repeated),
            "window_id": window_id,
            "correlation_id": alert.correlation_id,
            "lease_until": lease_until,
            "created_at": now,
            "updated_at": now,
        }
        result = await conn.execute(insert(deliveries).values(**values))
        return {"id": int(result.inserted_primary_key[0]), **values}  # type: ignore[index]

    async def skipped(self, alert: Alert, channel: str, target: Target, reason: str) -> None:
        """Record that a routed channel is not configured (once per event and channel)."""
        try:
            async with self._decide, self.engine.begin() as conn:
                if await self._row(conn, alert.event_id, channel) is None:
                    row = await self._insert(conn, alert, channel, target, "skipped", None, self.clock(), 0.0)
                    await conn.execute(update(deliveries).where(deliveries.c.id == row["id"]).values(reason=reason))
        except IntegrityError:
            pass

    async def attempted(self, delivery_id: int, lease_seconds: float) -> None:
        """Count one more attempt (visible in the log while a delivery is still retrying) and renew the lease."""
        now = self.clock()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(attempts=deliveries.c.attempts + 1, lease_until=now + lease_seconds, updated_at=now)
            )

    async def extend(self, delivery_id: int, lease_seconds: float) -> None:
        """Keep the lease across a long wait between attempts (a Retry-After)."""
        now = self.clock()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(deliveries).where(deliveries.c.id == delivery_id).values(lease_until=now + lease_seconds)
            )

    async def finish(self, delivery_id: int, status: str, reason: str | None) -> dict[str, Any]:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(status=status, reason=reason, updated_at=self.clock())
            )
            row = (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).mappings().one()
            return dict(row)

    async def recent(
        self,
        *,
        status: str | None = None,
        channel: str | None = None,
        event_type: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Newest first, filtered."""
        query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
        for column, value in (
            (deliveries.c.status, status),
            (deliveries.c.channel, channel),
            (deliveries.c.event_type, event_type),
            (deliveries.c.event_id, event_id),
        ):
            if value is not None:
                query = query.where(column == value)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def due_windows(self) -> list[Window]:
        """Windows that ended (or whose flusher died) and still need their summary decided."""
        now = self.clock()
        query = select(windows).where(
            ((windows.c.state == "open") & (windows.c.closes_at <= now))
            | (windows.c.state == "due")
            | ((windows.c.state == "flushing") & (windows.c.claimed_until < now))
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            Window(
                r["id"],
                r["channel"],
                r["leader_event_id"],
                r["envelope"],
                json.loads(r["recipients"]),
                r["opened_at"],
                r["suppressed"],
            )
            for r in rows
        ]

    async def claim_window(self, window_id: int, lease_seconds: float) -> int | None:
        """Take a due window for flushing (compare-and-set); returns its final count, or None if someone else has it."""
        now = self.clock()
        async with self._decide, self.engine.begin() as conn:
            result = await conn.execute(
                update(windows)
                .where(
                    windows.c.id == window_id,
                    ((windows.c.state == "open") & (windows.c.closes_at <= now))
                    | (windows.c.state == "due")
                    | ((windows.c.state == "flushing") & (windows.c.claimed_until < now)),
                )
                .values(state="flushing", claimed_until=now + lease_seconds)
            )
            if result.rowcount != 1:
                return None
            row = (await conn.execute(select(windows.c.suppressed).where(windows.c.id == window_id))).first()
            return int(row.suppressed) if row else None

    async def close_window(self, window_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(windows).where(windows.c.id == window_id).values(state="flushed"))

    async def prune_windows(self, older_than_seconds: float) -> int:
        """Forget flushed windows (the deliveries keep their window id; the log itself is kept)."""
        cutoff = self.clock() - older_than_seconds
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(windows).where(windows.c.state == "flushed", windows.c.closes_at < cutoff)
            )
            return int(result.rowcount or 0)

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))
        return True
