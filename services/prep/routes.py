"""`/v1/jobs`: prepare a raw object on demand, through the same handler and idempotency as its S3 notification."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from services.prep.files import skip_reason
from services.prep.handlers import API_EVENT_NAME, PrepDeps
from services.prep.jobs import FINAL
from shared.bus import InProgressElsewhere, MessageBus
from shared.events import S3Location
from shared.messages import S3_OBJECT_CREATED, S3ObjectEvent

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _deps(request: Request) -> PrepDeps:
    return request.app.state.deps  # type: ignore[no-any-return]


def _bus(request: Request) -> MessageBus:
    return request.app.state.bus  # type: ignore[no-any-return]


Deps = Annotated[PrepDeps, Depends(_deps)]
Bus = Annotated[MessageBus, Depends(_bus)]


class JobRequest(BaseModel):
    uri: str = Field(
        description="s3://<home bucket>/raw/<dataset>/<file>", examples=["s3://mlops-dev/raw/sms/spam.tsv"]
    )
    version_id: str | None = Field(None, description="A specific version of the object (default: the latest).")


class Job(BaseModel):
    """A preparation and its outcome. `status`: queued, running, prepared, rejected, skipped or failed."""

    id: str
    status: str
    source_uri: str
    trigger: str
    attempts: int
    dataset: str | None = None
    version: str | None = None
    manifest_uri: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = {}
    created_at: float
    updated_at: float


def _source(body: JobRequest, deps: PrepDeps) -> S3Location:
    try:
        location = S3Location.parse(body.uri)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if location.bucket != deps.bench.bucket:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"prep reads raw data from s3://{deps.bench.bucket} only")
    if not location.key.startswith("raw/"):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the object must be under raw/")
    if reason := skip_reason(location.key):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not a data file: {reason}")
    return location


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job, summary="Prepare a raw object now")
async def create_job(body: JobRequest, request: Request, response: Response, deps: Deps, bus: Bus) -> Job:
    """Starts the preparation in the background and answers at once; poll `GET /v1/jobs/{id}`. The job id is
    derived from the object version, so asking twice is one job, and an object already prepared (by its S3
    notification or an earlier request) is not prepared again (200 with the outcome)."""
    location = _source(body, deps)
    info = await deps.bench.store.head(location.bucket, location.key, body.version_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such object: {body.uri}")
    event = S3ObjectEvent(
        type=S3_OBJECT_CREATED,
        event_name=API_EVENT_NAME,
        event_time=datetime.now(UTC),
        bucket=info.bucket,
        key=info.key,
        size=info.size,
        etag=info.etag,
        version_id=info.version_id,
    )
    jid = await deps.jobs.queued(event, "api")
    job = await deps.jobs.get(jid)
    response.headers["Location"] = f"/v1/jobs/{jid}"
    if job and job["status"] in FINAL and job["status"] != "failed":
        response.status_code = status.HTTP_200_OK
        return Job(**job)
    if job is None or job["status"] != "running":
        task = asyncio.create_task(_dispatch(bus, event), name=f"prep-job-{jid}")
        deps.api_tasks.add(task)
        task.add_done_callback(deps.api_tasks.discard)
    return Job(**(await deps.jobs.get(jid) or job or {}))


async def _dispatch(bus: MessageBus, event: S3ObjectEvent) -> None:
    try:
        await bus.dispatch(event)
    except InProgressElsewhere:
        log.info("%s is being prepared by another worker; the job shows its outcome when done", event.key)
    except Exception:  # the handler recorded the failure on the job; a new request retries
        log.exception("on-demand preparation of %s failed", event.key)


@router.get("/{job_id}", response_model=Job, summary="A preparation and its outcome")
async def get_job(job_id: str, deps: Deps) -> Job:
    job = await deps.jobs.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return Job(**job)


@router.get("", response_model=list[Job], summary="Recent preparations, newest first")
async def list_jobs(
    deps: Deps,
    dataset: Annotated[str | None, Query(description="Only this data set")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[Job]:
    return [Job(**job) for job in await deps.jobs.recent(limit, dataset)]
