"""Inference's one handler table: a promotion or rollback in our environment makes every replica re-check its
alias and swap (each replica consumes its own fan-out queue, see shared.fanout)."""

from __future__ import annotations

import functools
import logging

from services.inference.aliases import ModelTarget
from services.inference.swap import ModelManager
from shared.bus import HandlerContext, HandlerTable
from shared.events import Envelope, ModelPromoted, ModelRolledBack

log = logging.getLogger(__name__)


def _hint(payload: ModelPromoted | ModelRolledBack) -> ModelTarget:
    version = payload.version if isinstance(payload, ModelPromoted) else payload.to_version
    return ModelTarget(payload.model_name, version, payload.artifact, payload.artifact_sha256)


async def alias_moved(event: Envelope, ctx: HandlerContext, manager: ModelManager) -> None:
    """Converge on the environment's alias. The registry is asked (events may arrive out of order); the event's
    own target is used only when the registry does not answer."""
    payload = event.payload
    if not isinstance(payload, ModelPromoted | ModelRolledBack) or payload.environment != manager.environment:
        return
    if manager.model_name and payload.model_name != manager.model_name:
        log.info("ignoring %s of %s: this service serves %s", event.type, payload.model_name, manager.model_name)
        return
    await manager.refresh(f"{event.type} {payload.model_name}", hint=_hint(payload))


def handler_table(manager: ModelManager) -> HandlerTable:
    handler = functools.partial(alias_moved, manager=manager)
    return {"model.promoted": [handler], "model.rolled_back": [handler]}
