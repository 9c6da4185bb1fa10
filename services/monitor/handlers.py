"""The monitor's one handler table: promotions (and rollbacks) record a reference, schedules run drift checks."""

from __future__ import annotations

import functools

from services.monitor.runner import DriftMonitor
from shared.bus import HandlerContext, HandlerTable
from shared.events import DriftCheckScheduled, Envelope, ModelPromoted, ModelRolledBack


async def record_promotion(monitor: DriftMonitor, event: Envelope, ctx: HandlerContext) -> None:
    """A model now serves in an environment: its reference is what traffic there is compared with."""
    promoted = event.payload_as(ModelPromoted)
    await monitor.record_reference(
        promoted.environment, promoted.model_name, promoted.version, promoted.artifact, event.occurred_at.timestamp()
    )


async def record_rollback(monitor: DriftMonitor, event: Envelope, ctx: HandlerContext) -> None:
    """A rollback serves an older version again: compare traffic with that version's reference."""
    rolled = event.payload_as(ModelRolledBack)
    await monitor.record_reference(
        rolled.environment, rolled.model_name, rolled.to_version, rolled.artifact, event.occurred_at.timestamp()
    )


async def run_drift_check(monitor: DriftMonitor, event: Envelope, ctx: HandlerContext) -> None:
    """The schedule (or `POST /v1/runs`) asks for a drift check: run it, announce the verdicts."""
    await monitor.check(event.payload_as(DriftCheckScheduled), event.id, ctx)


def handler_table(monitor: DriftMonitor) -> HandlerTable:
    return {
        ModelPromoted.event_type: [functools.partial(record_promotion, monitor)],
        ModelRolledBack.event_type: [functools.partial(record_rollback, monitor)],
        DriftCheckScheduled.event_type: [functools.partial(run_drift_check, monitor)],
    }
