"""The monitor service: drift checks of served models and the pipeline's health (port 8005, `/docs`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.monitor.deps import MonitorDeps
from services.monitor.handlers import handler_table
from services.monitor.health import PipelineWatcher
from services.monitor.routes import router
from services.monitor.runner import DriftMonitor
from services.monitor.schedule import EmbeddedScheduler, parse_schedule, slot_event_id
from services.monitor.settings import MonitorSettings
from services.monitor.storage import S3ObjectStore
from services.monitor.store import MonitorStore
from shared.bus import InProgressElsewhere, MessageBus
from shared.events import DriftCheckScheduled, Envelope
from shared.service import Runtime, ServiceParts, ServiceSpec, build_bus, create_app

log = logging.getLogger(__name__)
Job = Callable[[], Coroutine[Any, Any, None]]


def scheduler(runtime: Runtime, store: MonitorStore, bus: MessageBus) -> EmbeddedScheduler:
    """The embedded scheduler: each slot dispatches `drift.check_scheduled` through the service's handler table."""
    schedule = parse_schedule(runtime.common.drift_schedule)
    name = runtime.topology.schedule_name

    async def fire(slot: float) -> None:
        payload = DriftCheckScheduled(schedule=schedule.expression, requested_by="schedule")
        envelope = Envelope.wrap(
            payload, source="monitor", correlation_id=f"drift-schedule:{slot:.0f}", event_id=slot_event_id(name, slot)
        )
        try:
            await bus.dispatch(envelope)
        except InProgressElsewhere:
            log.info("another replica runs the scheduled check of this slot")

    return EmbeddedScheduler(schedule, store, fire, name)


def _warm_up(executor: ThreadPoolExecutor) -> Job:
    async def warm_up() -> None:  # import Evidently (~4 s) before the first run needs it
        from services.monitor.checks import _evidently

        await asyncio.get_running_loop().run_in_executor(executor, _evidently)

    return warm_up


async def bootstrap(runtime: Runtime) -> ServiceParts:
    """Settings, the schedule (validated), the SQL store, S3, the check worker, the scheduler and the watcher."""
    settings = MonitorSettings()
    parse_schedule(runtime.common.drift_schedule)  # refuse to start on an expression we could not run
    store = MonitorStore(runtime.engine)
    await store.create_schema()
    s3 = await runtime.aws.s3()
    objects = S3ObjectStore(s3)
    # One worker: checks are CPU-bound (Evidently, scikit-learn) and must not starve the event loop or each other.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-checks")
    runtime.stack.callback(executor.shutdown, wait=False, cancel_futures=True)
    monitor = DriftMonitor(
        settings, runtime.common, objects, store, executor, settings.report_base_url or runtime.urls.of("monitor")
    )
    handlers = handler_table(monitor)
    deps = MonitorDeps(monitor=monitor, store=store, objects=objects)
    background: list[Job] = [deps.supervise, _warm_up(executor)]
    if settings.scheduler_embedded:
        background.append(scheduler(runtime, store, build_bus(runtime, handlers)).run_forever)
    if settings.health_enabled:
        deps.watcher = PipelineWatcher(await runtime.aws.sqs(), runtime.topology, store, runtime.publisher, settings)
        background.append(deps.watcher.run_forever)

    async def ready() -> dict[str, bool]:
        await s3.head_bucket(Bucket=runtime.topology.home_bucket)
        return {"database": await store.ping(), "bucket": True}

    return ServiceParts(deps=deps, handlers=handlers, ready=ready, background=background)


SPEC = ServiceSpec(
    name="monitor",
    title="monitor",
    description=(
        "Drift checks of served models with Evidently: text descriptors, text content (domain classifier), "
        "predicted labels, confidences and, with feedback labels, accuracy and F1; between each promoted model's "
        "reference and the captured traffic. Reports go to S3 `monitoring/{env}/{run}/`; runs on MLOPS_DRIFT_SCHEDULE "
        "(EventBridge Scheduler on AWS, in-process locally) or `POST /v1/runs`. Emits `drift.checked`, "
        "`drift.detected` (warning, high once persistent) and, watching every queue and dead-letter queue, "
        "`pipeline.failed`."
    ),
    bootstrap=bootstrap,
    routers=[router],
)
app = create_app(SPEC)
