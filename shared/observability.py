"""Prometheus metrics shared by every service (`/metrics`), and the HTTP middleware that feeds them."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MESSAGES = Counter("mlops_messages_total", "SQS messages handled, by outcome", ["service", "queue", "outcome"])
HANDLER_SECONDS = Histogram(
    "mlops_handler_seconds",
    "Time spent in one event handler",
    ["service", "event_type"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200),
)
EVENTS_PUBLISHED = Counter("mlops_events_published_total", "Domain events published", ["service", "event_type"])
EVENT_AGE_SECONDS = Histogram(
    "mlops_event_age_seconds",
    "From an event's occurrence (or S3 write) to its handler starting",
    ["service", "event_type"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
INFLIGHT = Gauge("mlops_messages_inflight", "Messages being handled now", ["service", "queue"])
HTTP_REQUESTS = Counter("mlops_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram(
    "mlops_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SERVICE_INFO = Gauge("mlops_service_info", "Service identity", ["service", "code_version"])
log = logging.getLogger("mlops.http")
# Readiness answers 503 by design while a service starts or waits for a model: not an error worth counting.
_NOT_ERRORS = frozenset({"/readyz"})


def install_http_metrics(app: FastAPI, service: str) -> None:
    """Count and time every request by its route template (not its raw path, which would explode cardinality)."""
    app.add_middleware(HttpMetrics, service=service)


class HttpMetrics:
    """A pure ASGI middleware. Starlette's `BaseHTTPMiddleware` (`@app.middleware("http")`) runs every request in an
    extra task with memory streams and cancel scopes: py-spy put it at ~30 % of the inference service's CPU under
    load (`make bench-inference`), more for a handler that waits (a micro-batched prediction) than for one that
    does not; here the only per-request work is wrapping `send` to see the status."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_seeing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_seeing_status)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        template = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
        HTTP_SECONDS.labels(self.service, method, template).observe(seconds)
        if status >= 500 and template not in _NOT_ERRORS:
            # One JSON line per 5xx answer: CloudWatch's metric filter `{ $.http_status >= 500 }` counts these
            # (ecs/observability.py), and the correlation id of the request, if bound, comes with it.
            log.warning(
                "%s %s answered %d",
                method,
                template,
                status,
                extra={"http_status": status, "route": template, "method": method},
            )


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
