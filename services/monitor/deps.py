"""What the monitor's routes and background jobs share, built once in `app.bootstrap`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.monitor.health import PipelineWatcher
from services.monitor.runner import DriftMonitor
from services.monitor.storage import ObjectStore
from services.monitor.store import MonitorStore


@dataclass
class MonitorDeps:
    monitor: DriftMonitor
    store: MonitorStore
    objects: ObjectStore
    watcher: PipelineWatcher | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def supervise(self) -> None:
        """Background task: at shutdown, cancel runs started with `wait=false` (their leases are released)."""
        try:
            await asyncio.Event().wait()
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
