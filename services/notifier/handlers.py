"""The notifier's handler table: every event type some route takes goes to `notify`; the routes decide the rest."""

from __future__ import annotations

import functools

from services.notifier.delivery import Notifier
from shared.bus import Handler, HandlerContext
from shared.events import Envelope


async def notify(notifier: Notifier, event: Envelope, ctx: HandlerContext) -> None:
    """Deliver the event's alert on every channel its routes name (raises if one finally fails: DLQ)."""
    await notifier.notify(event, ctx)


def handler_table(notifier: Notifier) -> dict[str, list[Handler]]:
    """`{event_type: [notify]}` for exactly the types in the routing (the same set the SNS filter lets through)."""
    handler = functools.partial(notify, notifier)
    return {event_type: [handler] for event_type in notifier.routing.event_types()}
