"""Delivering alerts: route, de-duplicate, collapse, send with retries, record, report.

Idempotency per (event id, channel) rests on the delivery log, consulted before every send: a redelivered SQS message
finds its `sent` row and sends nothing (it only re-emits `notification.sent`, with the same deterministic event id).

The crash window. A send and its record cannot be one atomic step (Teams and SMTP are not in our database). We record
`sending` with a lease before the attempt and `sent` right after it. While the lease runs, another worker asking for
the same delivery is told it is in progress (its message is left for later). A process killed between the receiver
accepting the message and that update leaves `sending` behind; once the lease has run out, the redelivery sends
again. We chose at-least-once over at-most-once on purpose: a rare duplicate alert costs a glance, a lost one (a
rollback, a tampered artifact) can cost an incident. The window is one SQL update wide; the duplicate is logged as a
resumed delivery, and emails carry a deterministic Message-ID so mail systems that de-duplicate show it once.

Collapsing. The first alert of a kind (channel + type + severity + key facts) is sent at once and opens a window; the
identical alerts that arrive inside it are recorded as `collapsed` and counted; when the window ends, the flusher sends
one summary ("+N more") if it held anything back. Nobody waits for an alert, a storm becomes two messages per window,
and since windows live in SQL the count survives restarts and is shared by replicas.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.notifier import alerts
from services.notifier.alerts import Alert
from services.notifier.channels import DeliveryError, Sender
from services.notifier.render import Renderer
from services.notifier.retry import RetryPolicy, with_retries
from services.notifier.secrets import Redactor
from services.notifier.settings import NotifierSettings
from services.notifier.store import Claim, ClaimKind, DeliveryLog, Target
from shared.alerting import Channel, Routing
from shared.bus import HandlerContext, InProgressElsewhere
from shared.events import Envelope, EventPayload, NotificationFailed, NotificationSent
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)
WINDOW_RETENTION_SECONDS = 7 * 86400
_SUMMARY_IDS = uuid.UUID("0b9e0f4c-2a57-4c1e-9d7f-5f1c3d1b6a21")


class DeliveryFailed(RuntimeError):
    """At least one channel finally failed; raised after recording, so the message is redelivered and then
    dead-lettered."""


@dataclass(frozen=True)
class Result:
    channel: Channel
    status: str  # sent, failed, collapsed, skipped
    attempts: int
    reason: str | None
    collapsed: int
    delivery: dict[str, object]


@dataclass
class Notifier:
    settings: NotifierSettings
    routing: Routing
    log: DeliveryLog
    senders: Mapping[Channel, Sender]
    policy: RetryPolicy
    renderer: Renderer
    publisher: EventPublisher
    redactor: Redactor
    dashboard_url: str

    def plan(self, event_type: str, severity: str) -> dict[Channel, tuple[str, ...]]:
        """Channel -> recipients for an event, over every route that takes it (recipients unioned, in order)."""
        plan: dict[Channel, list[str]] = {}
        for route in self.routing.matching(event_type, severity):
            for channel in route.channels:
                recipients = plan.setdefault(channel, [])
                if channel == "email":
                    recipients.extend(route.email_to or self.settings.email_to)
        return {c: tuple(dict.fromkeys(r)) for c, r in plan.items()}

    async def notify(self, envelope: Envelope, ctx: HandlerContext) -> None:
        """The handler of every routed event: deliver on each channel, report, raise if any channel failed."""
        plan = self.plan(envelope.type, envelope.severity)
        if not plan:
            log.info("no route takes %s at severity %s", envelope.type, envelope.severity)
            return
        alert = alerts.from_envelope(envelope, self.dashboard_url)
        channels = sorted(plan)
        # Every channel runs to its end even if another raises: one channel never holds another back.
        outcomes = await asyncio.gather(*(self.deliver(alert, c, plan[c]) for c in channels), return_exceptions=True)
        results = [o for o in outcomes if isinstance(o, Result)]
        for result in results:  # a fixed order, so a rerun emits the same deterministic ids
            if (report := self.report(alert, result)) is not None:
                await ctx.emit(report)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise DeliveryFailed("; ".join(f"{r.channel}: {r.reason}" for r in failed))

    def report(self, alert: Alert, result: Result) -> EventPayload | None:
        if result.status == "sent":
            return NotificationSent(
                event_id=alert.event_id,
                notified_type=alert.event_type,
                channel=result.channel,
                attempts=result.attempts,
                collapsed=result.collapsed,
            )
        if result.status == "failed":
            return NotificationFailed(
                event_id=alert.event_id,
                notified_type=alert.event_type,
                channel=result.channel,
                attempts=result.attempts,
                reason=result.reason or "unknown",
            )
        return None

    async def deliver(self, alert: Alert, channel: Channel, recipients: Sequence[str]) -> Result:
        """One (alert, channel): at most one successful send, whatever happens around it."""
        title = self.renderer.blocks(alert).title
        sender = self.senders.get(channel)
        if sender is None:
            target = Target(tuple(recipients), "", title)
            await self.log.skipped(alert, channel, target, f"{channel} is not configured")
            return Result(channel, "skipped", 0, f"{channel} is not configured", 0, {})
        if channel == "email" and not recipients:
            return await self._record_failure(alert, channel, Target((), "", title), "no email recipients")
        target = Target(tuple(recipients), sender.target(recipients), title)
        claim = await self.log.claim(alert, channel, target, self.window(alert), self.lease_seconds)
        if claim.kind is ClaimKind.IN_PROGRESS:  # leave the message: it comes back when that worker is done
            raise InProgressElsewhere(f"{alert.event_id}/{channel}")
        if claim.kind is not ClaimKind.SEND:
            return self._settled(channel, claim)
        if claim.resumed:
            log.warning(
                "delivery of %s to %s was interrupted before its outcome was recorded; sending again (at least once)",
                alert.event_id,
                channel,
            )
        return await self._send(alert, channel, sender, target, claim)

    def window(self, alert: Alert) -> float:
        return self.settings.collapse_window_seconds if alert.collapsible else 0.0

    @property
    def lease_seconds(self) -> float:
        """How long one attempt may take before its claim counts as abandoned (then: resent, at least once)."""
        s = self.settings
        return max(s.http_timeout, s.smtp_timeout) + s.retry_max_delay + 30.0

    def _settled(self, channel: Channel, claim: Claim) -> Result:
        row = claim.delivery
        status = str(row["status"])
        if claim.kind is ClaimKind.COLLAPSED:
            log.info("%s to %s collapsed into window %s", row["event_id"], channel, row["window_id"])
        else:
            log.info("%s to %s already %s; not sending again", row["event_id"], channel, status)
        attempts, collapsed = int(row["attempts"]), int(row["collapsed"])  # type: ignore[call-overload]
        return Result(channel, status, attempts, row.get("reason"), collapsed, row)  # type: ignore[arg-type]

    async def _send(self, alert: Alert, channel: Channel, sender: Sender, target: Target, claim: Claim) -> Result:
        delivery_id = int(claim.delivery["id"])  # type: ignore[call-overload]

        async def attempted(number: int) -> None:
            await self.log.attempted(delivery_id, self.lease_seconds)

        async def failed_once(number: int, error: DeliveryError, wait: float | None) -> None:
            then = f"retrying in {wait:.2f}s" if wait is not None else "giving up"
            reason = self.redactor(error.reason)
            log.warning("%s to %s, attempt %d failed: %s; %s", alert.event_type, channel, number, reason, then)
            if wait is not None and wait > self.settings.retry_max_delay:  # a long Retry-After: keep the claim
                await self.log.extend(delivery_id, wait + self.lease_seconds)

        outcome = await with_retries(lambda: sender.send(alert, target.recipients), self.policy, attempted, failed_once)
        detail = self.redactor(outcome.detail)
        row = await self.log.finish(delivery_id, "sent" if outcome.ok else "failed", None if outcome.ok else detail)
        attempts = int(row["attempts"])
        if not outcome.ok:
            log.error("delivery of %s %s to %s failed: %s", alert.event_type, alert.event_id, channel, detail)
            return Result(channel, "failed", attempts, detail, int(row["collapsed"]), row)
        log.info("sent %s %s to %s (%s)", alert.event_type, alert.event_id, channel, detail)
        return Result(channel, "sent", attempts, None, int(row["collapsed"]), row)

    async def _record_failure(self, alert: Alert, channel: Channel, target: Target, reason: str) -> Result:
        claim = await self.log.claim(alert, channel, target, 0.0, self.lease_seconds)
        if claim.kind is not ClaimKind.SEND:
            return self._settled(channel, claim)
        row = await self.log.finish(int(claim.delivery["id"]), "failed", reason)  # type: ignore[call-overload]
        log.error("delivery of %s to %s failed: %s", alert.event_id, channel, reason)
        return Result(channel, "failed", 0, reason, 1, row)

    # ------------------------------------------------------------------------------------------- collapse windows
    async def flush_windows(self) -> int:
        """Send the summary of every ended window that held identical alerts back; returns how many were sent."""
        sent = 0
        for window in await self.log.due_windows():
            held = await self.log.claim_window(window.id, lease_seconds=max(60.0, self.settings.http_timeout * 10))
            if held is None:
                continue
            if held > 0:
                await self._summarise(
                    window.id, window.channel, window.envelope, window.recipients, window.opened_at, held
                )
                sent += 1
            await self.log.close_window(window.id)
        await self.log.prune_windows(older_than_seconds=WINDOW_RETENTION_SECONDS)
        return sent

    async def _summarise(
        self, window_id: int, channel: str, envelope_json: str, recipients: list[str], opened_at: float, held: int
    ) -> None:
        leader = Envelope.model_validate_json(envelope_json)
        summary_id = f"{leader.id}:summary:{window_id}"
        started = datetime.fromtimestamp(opened_at, UTC)
        alert = alerts.from_envelope(leader, self.dashboard_url).summary_of(held, started, summary_id)
        result = await self.deliver(alert, channel, recipients)  # type: ignore[arg-type]
        if (report := self.report(alert, result)) is not None:
            event_id = uuid.uuid5(_SUMMARY_IDS, f"{summary_id}:{channel}:{report.event_type}").hex
            await self.publisher.publish(
                Envelope.wrap(
                    report,
                    source="notifier",
                    correlation_id=leader.correlation_id,
                    causation_id=leader.id,
                    event_id=event_id,
                )
            )

    async def run_flusher(self) -> None:
        """Background task: close ended windows every `flush_interval_seconds`."""
        while True:
            try:
                await self.flush_windows()
            except Exception:  # a failed round is retried next round; the windows stay due
                log.exception("flushing collapse windows failed")
            await asyncio.sleep(self.settings.flush_interval_seconds)
