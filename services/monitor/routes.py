"""`/v1/runs`: run a drift check now, list runs with verdicts and report links, open the stored reports;
`/v1/references` and `/v1/pipeline` show what the monitor compares against and the queues' health."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, model_validator

from services.monitor.deps import MonitorDeps
from services.monitor.reports import index_page
from shared.bus import InProgressElsewhere, MessageBus
from shared.events import DriftCheckScheduled, Envelope, S3Location
from shared.settings import Environment

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["drift"])


def _deps(request: Request) -> MonitorDeps:
    return request.app.state.deps  # type: ignore[no-any-return]


def _bus(request: Request) -> MessageBus:
    return request.app.state.bus  # type: ignore[no-any-return]


Deps = Annotated[MonitorDeps, Depends(_deps)]
Bus = Annotated[MessageBus, Depends(_bus)]


class RunRequest(BaseModel):
    environment: Environment | None = Field(None, description="One environment; default: every one with a model.")
    window_start: datetime | None = Field(
        None, description="Default: the end of the last decisive run (or the promotion)."
    )
    window_end: datetime | None = Field(None, description="Default: now.")
    wait: bool = Field(True, description="Answer when the runs are done (200), or at once (202).")

    @model_validator(mode="after")
    def _window(self) -> RunRequest:
        start, end = _aware(self.window_start), _aware(self.window_end) or datetime.now(UTC)
        if start is not None and start >= end:
            raise ValueError("window_start must be before window_end (or now)")
        return self


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class Run(BaseModel):
    """A drift run: `verdict` is drift, no_drift, not_enough_data or error (with `reason`), once `status` is done."""

    id: str
    environment: str
    status: Literal["running", "done"]
    verdict: str | None
    reason: str
    trigger: str
    model_name: str | None
    version: int | None
    window_start: datetime
    window_end: datetime
    checks: dict[str, Any]
    counts: dict[str, int]
    level: str | None = Field(None, description="warning, or high once the drift persisted (MONITOR_PERSISTENCE_RUNS).")
    consecutive: int
    action: str | None
    report_url: str = Field(description="HTML overview of the run, linking each check's Evidently report.")
    report_links: dict[str, str]
    reports: dict[str, dict[str, str]] = Field(description="Where the reports are stored (S3 URIs, HTML and JSON).")
    created_at: datetime
    finished_at: datetime | None


class RunsAnswer(BaseModel):
    event_id: str
    runs: list[Run]
    runs_url: str


def _view(deps: MonitorDeps, run: dict[str, Any]) -> Run:
    links = deps.monitor.links(run)
    stamp = lambda v: datetime.fromtimestamp(v, UTC) if v is not None else None  # noqa: E731
    fields = {k: v for k, v in run.items() if k in Run.model_fields}
    return Run(
        **{
            **fields,
            "window_start": stamp(run["window_start"]),
            "window_end": stamp(run["window_end"]),
            "created_at": stamp(run["created_at"]),
            "finished_at": stamp(run["finished_at"]),
            "report_url": links["index"],
            "report_links": links,
        }
    )


async def _dispatch(bus: MessageBus, envelope: Envelope) -> None:
    try:
        await bus.dispatch(envelope)
    except InProgressElsewhere:
        log.info("drift check %s is already running elsewhere", envelope.id)


@router.post(
    "/runs",
    response_model=RunsAnswer,
    summary="Run a drift check now",
    responses={202: {"description": "Started; poll `runs_url`"}},
)
async def create_run(body: RunRequest, response: Response, deps: Deps, bus: Bus) -> RunsAnswer:
    """Runs the same check as the schedule (same handler, idempotency and events) for one environment or all of
    them, over an explicit window or the window since the last decisive run."""
    payload = DriftCheckScheduled(
        environment=body.environment,
        window_start=_aware(body.window_start),
        window_end=_aware(body.window_end),
        requested_by="api",
    )
    envelope = Envelope.wrap(payload, source="monitor", correlation_id=uuid.uuid4().hex)
    runs_url = f"/v1/runs?event_id={envelope.id}"
    if not body.wait:
        task = asyncio.create_task(_dispatch(bus, envelope), name=f"drift-run-{envelope.id}")
        deps.tasks.add(task)
        task.add_done_callback(deps.tasks.discard)
        response.status_code = status.HTTP_202_ACCEPTED
        return RunsAnswer(event_id=envelope.id, runs=[], runs_url=runs_url)
    try:
        await _dispatch(bus, envelope)
    except Exception as exc:  # S3 or the database unavailable: say so, the service keeps serving
        log.exception("drift run %s failed", envelope.id)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the drift run failed: {exc}") from exc
    runs = await deps.store.list_runs(event_id=envelope.id, limit=10)
    return RunsAnswer(event_id=envelope.id, runs=[_view(deps, r) for r in runs], runs_url=runs_url)


@router.get("/runs", response_model=list[Run], summary="Drift runs, newest first")
async def list_runs(
    deps: Deps,
    environment: Annotated[Environment | None, Query()] = None,
    verdict: Annotated[Literal["drift", "no_drift", "not_enough_data", "error"] | None, Query()] = None,
    event_id: Annotated[str | None, Query(description="Runs started by one request or schedule slot")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[Run]:
    runs = await deps.store.list_runs(environment, verdict, event_id, limit)
    return [_view(deps, r) for r in runs]


async def _run(deps: MonitorDeps, run_id: str) -> dict[str, Any]:
    run = await deps.store.get_run(run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
    return run


@router.get("/runs/{run_id}", response_model=Run, summary="One drift run")
async def get_run(run_id: str, deps: Deps) -> Run:
    return _view(deps, await _run(deps, run_id))


@router.get("/runs/{run_id}/report", response_class=HTMLResponse, summary="A run's overview page (HTML)")
async def run_report(run_id: str, deps: Deps) -> HTMLResponse:
    run = await _run(deps, run_id)
    return HTMLResponse(index_page(run, deps.monitor.links(run)))


@router.get("/runs/{run_id}/reports/{check}", summary="A check's stored Evidently report (HTML, or JSON)")
async def check_report(
    run_id: str, check: str, deps: Deps, format: Annotated[Literal["html", "json"], Query()] = "html"
) -> Response:
    run = await _run(deps, run_id)
    stored = run["reports"].get(check)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"run {run_id} has no {check} report")
    location = S3Location.parse(stored[format])
    body = await deps.objects.get(location.bucket, location.key)
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report missing in S3: {location.uri}")
    return Response(body, media_type="text/html; charset=utf-8" if format == "html" else "application/json")


@router.get("/references", summary="What each environment's traffic is compared with")
async def references(deps: Deps) -> list[dict[str, Any]]:
    out = []
    for env in await deps.store.environments():
        if (row := await deps.store.active_reference(env)) is not None:
            out.append(row)
    return out


@router.get("/pipeline", summary="Queue depths, dead letters and backlog ages at the last inspection")
async def pipeline(deps: Deps) -> dict[str, Any]:
    if deps.watcher is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "pipeline health watching is off (MONITOR_HEALTH_ENABLED)")
    return deps.watcher.snapshot()


@router.post("/pipeline/inspect", summary="Inspect the queues now (alerts as the periodic inspection would)")
async def inspect_pipeline(deps: Deps) -> dict[str, Any]:
    if deps.watcher is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "pipeline health watching is off (MONITOR_HEALTH_ENABLED)")
    raised = await deps.watcher.inspect()
    return {**deps.watcher.snapshot(), "alerts": [a.model_dump() for a in raised]}
