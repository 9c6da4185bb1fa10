"""Everything the registry's handlers and routes need, built once in `bootstrap`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from services.registry.artifacts import ArtifactStore
from services.registry.auth import Access
from services.registry.evaluation import Evaluator
from services.registry.releases import Releases
from services.registry.settings import RegistrySettings
from services.registry.store import Catalog
from services.registry.tracking import Tracker
from shared.events import Envelope, EventPayload
from shared.publisher import EventPublisher
from shared.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass
class RegistryDeps:
    settings: RegistrySettings
    common: CommonSettings
    catalog: Catalog
    releases: Releases
    store: ArtifactStore
    evaluator: Evaluator
    publisher: EventPublisher
    tracker: Tracker
    access: Access
    base_url: str  # where people open the dashboard (MLOPS_PUBLIC_BASE_URL when set, else the registry's URL)
    flush_interval: float = 5.0
    _flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def ui_url(self, path: str = "") -> str:
        return f"{self.base_url.rstrip('/')}/ui{path}"

    def version_url(self, model_name: str, version: int) -> str:
        return self.ui_url(f"/models/{model_name}/versions/{version}")

    async def stage(self, payload: EventPayload, correlation_id: str | None, event_id: str) -> Envelope:
        """An event for the outbox (the caller commits it with its state change, then calls `flush`)."""
        return Envelope.wrap(payload, source="registry", correlation_id=correlation_id or event_id, event_id=event_id)

    async def flush(self) -> None:
        """Publish staged events now; on failure they stay staged and the background flusher retries."""
        try:
            async with self._flush_lock:
                await self.releases.flush(self.publisher)
        except Exception:
            log.exception("publishing staged events failed; retrying in the background")

    async def run_flusher(self) -> None:
        """Background task: publish what a crash or an SNS outage left in the outbox."""
        rounds = 0
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()
            rounds += 1
            if rounds % 720 == 0:  # about hourly
                try:
                    await self.releases.prune()
                except Exception:
                    log.exception("pruning the outbox failed")

    def policy_of(self, environment: str) -> Any:
        return self.settings.policy[environment]
