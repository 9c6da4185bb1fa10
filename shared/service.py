"""One place where a service is assembled: settings, AWS clients, publisher, idempotency, bus, consumer, HTTP edge.

A service module provides a `ServiceSpec`: its routers and a `bootstrap(runtime)` that builds its own dependencies
and returns its handler table. `create_app(spec)` wires the rest identically for every service: JSON logs, the
lifespan that opens and closes every client, `/healthz`, `/readyz`, `/metrics`, and the SQS consumer of the
service's queue from the topology. Tests pass fakes of the ports into the same bootstrap.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.aws import AwsClients
from shared.bus import HandlerTable, MessageBus
from shared.consumer import SqsConsumer
from shared.db import create_engine
from shared.idempotency import IdempotencyStore, SqlIdempotencyStore
from shared.logs import configure_logging
from shared.observability import SERVICE_INFO, install_http_metrics, metrics_response
from shared.publisher import EventPublisher, SnsPublisher
from shared.settings import SERVICE_PORTS, CommonSettings, ConsumerSettings, ServiceUrls
from shared.topology import Topology

log = logging.getLogger(__name__)
ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]


@dataclass
class Runtime:
    """What the backbone hands a service's bootstrap. Everything here is open until shutdown."""

    name: str
    common: CommonSettings
    consumer: ConsumerSettings
    urls: ServiceUrls
    topology: Topology
    aws: AwsClients
    publisher: EventPublisher
    idempotency: IdempotencyStore
    engine: AsyncEngine
    stack: AsyncExitStack
    account: str


@dataclass
class ServiceParts:
    """What a service's bootstrap returns."""

    deps: Any
    handlers: HandlerTable = field(default_factory=dict)
    ready: ReadyCheck | None = None
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    queue_url: str | None = None  # override of the topology queue (e.g. a per-replica fan-out queue)
    not_ready_reason: Callable[[], str | None] | None = None  # why /readyz says 503, in words (optional)


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str
    bootstrap: Callable[[Runtime], Awaitable[ServiceParts]]
    routers: Sequence[APIRouter] = ()
    version: str = "0.1.0"


async def open_runtime(name: str, stack: AsyncExitStack) -> Runtime:
    common = CommonSettings()
    aws = await stack.enter_async_context(AwsClients(common.aws_region))
    account = (await (await aws.client("sts")).get_caller_identity())["Account"]
    topology = Topology(common)
    engine = create_engine(common.database_url_for(name))
    stack.push_async_callback(engine.dispose)
    idempotency = SqlIdempotencyStore(engine)
    await idempotency.create_schema()
    publisher = SnsPublisher(await aws.sns(), topology.topic_arn(account), name)
    return Runtime(
        name, common, ConsumerSettings(), ServiceUrls(), topology, aws, publisher, idempotency, engine, stack, account
    )


def build_bus(runtime: Runtime, handlers: HandlerTable) -> MessageBus:
    return MessageBus(
        runtime.name,
        handlers,
        runtime.publisher,
        runtime.idempotency,
        lease_seconds=runtime.consumer.visibility_timeout,
        completed_ttl_seconds=runtime.consumer.completed_ttl_days * 86400,
    )


async def _start_consumer(runtime: Runtime, parts: ServiceParts, bus: MessageBus) -> SqsConsumer | None:
    if not parts.handlers or not runtime.consumer.enabled:
        return None
    sqs = await runtime.aws.sqs()
    url = parts.queue_url or (await sqs.get_queue_url(QueueName=runtime.topology.queue_name(runtime.name)))["QueueUrl"]
    consumer = SqsConsumer(sqs, url, bus, runtime.consumer)
    await consumer.start()
    log.info("consuming %s", url)
    return consumer


def _lifespan(spec: ServiceSpec) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            runtime = await open_runtime(spec.name, stack)
            SERVICE_INFO.labels(spec.name, runtime.common.code_version).set(1)
            parts = await spec.bootstrap(runtime)
            bus = build_bus(runtime, parts.handlers)
            app.state.runtime, app.state.parts, app.state.deps, app.state.bus = runtime, parts, parts.deps, bus
            consumer = await _start_consumer(runtime, parts, bus)
            app.state.consumer = consumer
            tasks = [asyncio.create_task(job(), name=getattr(job, "__name__", "bg")) for job in parts.background]
            log.info("%s started", spec.name)
            try:
                yield
            finally:
                log.info("%s stopping", spec.name)
                if consumer is not None:
                    await consumer.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    return lifespan


def _health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process and its consumer are running")
    async def healthz(request: Request) -> JSONResponse:
        consumer = getattr(request.app.state, "consumer", None)
        alive = consumer is None or consumer.healthy
        return JSONResponse({"status": "ok" if alive else "consumer stopped"}, status_code=200 if alive else 503)

    @router.get("/readyz", summary="Readiness: dependencies answer and the service can do its work")
    async def readyz(request: Request) -> JSONResponse:
        parts: ServiceParts | None = getattr(request.app.state, "parts", None)
        checks: dict[str, bool] = {"started": parts is not None}
        if parts is not None and parts.ready is not None:
            try:
                checks.update(await parts.ready())
            except Exception:  # a failing check means "not ready", never a 500
                checks["service"] = False
        ok = all(checks.values())
        body: dict[str, Any] = {"ready": ok, "checks": checks}
        if not ok and parts is not None and parts.not_ready_reason is not None:
            body["reason"] = parts.not_ready_reason()
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def metrics() -> Response:
        return metrics_response()

    return router


def create_app(spec: ServiceSpec) -> FastAPI:
    """The FastAPI app of a service, with the backbone's lifespan and operational endpoints."""
    common = CommonSettings()
    configure_logging(spec.name, common.log_level, common.log_format)
    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=spec.version,
        lifespan=_lifespan(spec),
        # The platform's metrics are Prometheus and its logs JSON lines; FastAPI's native OpenTelemetry would
        # otherwise look for a configured provider on every request (a few % of a request's CPU, py-spy).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_http_metrics(app, spec.name)
    app.include_router(_health_router())
    for router in spec.routers:
        app.include_router(router)
    return app


def serve(app_path: str, service: str) -> None:
    """Run a service with uvicorn on its fixed port (override with PORT / HOST)."""
    port = int(os.environ.get("PORT", SERVICE_PORTS[service]))
    host = os.environ.get("HOST", "127.0.0.1")
    # log_config=None keeps our JSON logging; one worker per container (scale with replicas, not processes).
    uvicorn.run(app_path, host=host, port=port, log_config=None, timeout_graceful_shutdown=30)
