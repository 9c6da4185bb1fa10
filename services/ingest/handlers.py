"""The ingest handler table: every domain event of the data, training and model stages is recorded.

The table is derived from the event catalog and the ingest queue's filter (topology prefixes `dataset.`,
`training.`, `model.`), so an event type added to the catalog later is recorded without a change here.
"""

from __future__ import annotations

from functools import partial

from services.ingest.projection import Projection
from shared.bus import HandlerContext, HandlerTable
from shared.events import CATALOG, Envelope
from shared.topology import QueueSpec


async def record_event(event: Envelope, ctx: HandlerContext, *, projection: Projection) -> None:
    """Add the event to the data set records (idempotent: an event id is stored once)."""
    await projection.record(event)


def recorded_types(queue: QueueSpec) -> list[str]:
    """The catalog's event types that reach the ingest queue."""
    return sorted(t for t in CATALOG if t in queue.event_types or t.startswith(queue.event_prefixes))


def handler_table(projection: Projection, queue: QueueSpec) -> HandlerTable:
    record = partial(record_event, projection=projection)
    return {event_type: [record] for event_type in recorded_types(queue)}
