"""The notifier service: routed domain events to MS Teams and email, once each, with a delivery log (port 8006)."""

from __future__ import annotations

import httpx

from services.notifier import secrets
from services.notifier.api import router
from services.notifier.handlers import handler_table
from services.notifier.settings import NotifierSettings
from services.notifier.wiring import build_notifier, sync_filter_policy
from shared.service import Runtime, ServiceParts, ServiceSpec, create_app


async def bootstrap(runtime: Runtime) -> ServiceParts:
    """Settings (validated: routes, channels, secrets), the delivery log, the senders, the filter policy."""
    settings = NotifierSettings()
    guard = secrets.install(secrets.Redactor(settings.secrets()))
    runtime.stack.callback(secrets.uninstall, guard)
    http = httpx.AsyncClient(timeout=settings.http_timeout)
    runtime.stack.push_async_callback(http.aclose)
    dashboard = settings.dashboard_url or f"{runtime.urls.of('registry')}/ui"
    notifier = await build_notifier(settings, runtime.engine, runtime.publisher, http, dashboard)
    if settings.sync_filter_policy:
        topology = runtime.topology
        queue_arn = topology.queue_arn(runtime.account, topology.queue_name("notifier"))
        await sync_filter_policy(
            await runtime.aws.sns(), topology.topic_arn(runtime.account), queue_arn, notifier.routing.filter_policy()
        )

    async def ready() -> dict[str, bool]:
        return {"delivery_log": await notifier.log.ping()}

    return ServiceParts(deps=notifier, handlers=handler_table(notifier), ready=ready, background=[notifier.run_flusher])


SPEC = ServiceSpec(
    name="notifier",
    title="MLOps notifier",
    description=(
        "Sends alert-worthy platform events to MS Teams (Adaptive Cards through a Workflows webhook) and by email, "
        "following the routes in NOTIFIER_ROUTES. Each (event, channel) is delivered once, retried with backoff, "
        "logged, and collapsed with identical alerts inside a window. `GET /v1/deliveries` is the delivery log, "
        "`POST /v1/test` checks a channel's wiring."
    ),
    bootstrap=bootstrap,
    routers=[router],
)
app = create_app(SPEC)
