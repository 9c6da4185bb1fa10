"""`/v1/studies`: start a study by hand (through the same handler and idempotency as a `training.requested` event),
follow it, cancel it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from services.trainer.handlers import StudyOverrides, config_from
from services.trainer.progress import read_progress
from services.trainer.records import ACTIVE, FINAL
from services.trainer.spec import study_id
from services.trainer.studies import Trainer
from shared.bus import InProgressElsewhere, MessageBus
from shared.datasets import valid_dataset_name
from shared.events import Envelope, TrainingRequested

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/studies", tags=["studies"])
_REQUEST_IDS = uuid.UUID("0c3f7a52-8d4e-4b7a-9f51-7f5d2b6e8a10")


def _trainer(request: Request) -> Trainer:
    return request.app.state.deps  # type: ignore[no-any-return]


def _bus(request: Request) -> MessageBus:
    return request.app.state.bus  # type: ignore[no-any-return]


Deps = Annotated[Trainer, Depends(_trainer)]
Bus = Annotated[MessageBus, Depends(_bus)]


class StudyRequest(StudyOverrides):
    """A study on a data set version; every other field overrides the default study."""

    dataset: str = Field(examples=["support-tickets"])
    version: str | None = Field(None, description="Default: the latest prepared version.")
    reason: str = Field("requested over HTTP", max_length=500)


class Study(BaseModel):
    """A study: `state` is queued, running, cancelling, completed, failed or cancelled; `progress` comes from its
    Optuna storage (trials done of total, best value so far, ETA in seconds)."""

    id: str
    dataset: str
    version: str
    state: str
    trigger: str
    backend: str
    n_trials: int
    timeout_seconds: float | None = None
    config: dict[str, Any] | None = None
    correlation_id: str | None = None
    attempts: int
    reason: str | None = None
    outcome: dict[str, Any] = {}
    progress: dict[str, Any] = {}
    created_at: float
    started_at: float | None = None
    updated_at: float


async def _view(trainer: Trainer, record: dict[str, Any]) -> Study:
    progress: dict[str, Any] = {}
    if record["state"] != "queued" or record["attempts"]:
        try:
            progress = await asyncio.to_thread(
                read_progress,
                trainer.storage_for(record["id"]),
                record["id"],
                record["n_trials"],
                record["timeout_seconds"],
            )
        except Exception as exc:  # progress is a convenience; the record still answers
            progress = {"error": f"progress unavailable: {exc}"}
    return Study(**{k: v for k, v in record.items() if k != "storage"}, progress=progress)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Study, summary="Start a study")
async def create_study(body: StudyRequest, response: Response, trainer: Deps, bus: Bus) -> Study:
    """Starts the study in a worker and answers at once; follow it with `GET /v1/studies/{id}`. The id is derived
    from the data set version and the configuration: asking twice is one study (200 with its state), and a failed
    or cancelled study is run again (it resumes from its storage)."""
    if not valid_dataset_name(body.dataset):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"invalid data set name {body.dataset!r}")
    version = body.version or await trainer.latest_version(body.dataset)
    if version is None or await trainer.load_manifest(body.dataset, version) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no prepared version {version or ''} of {body.dataset}".strip())
    overrides = body.model_dump(exclude={"dataset", "version", "reason"}, exclude_none=True)
    try:
        config = config_from(overrides, trainer.settings.default_study())
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    sid = study_id(body.dataset, version, config)
    response.headers["Location"] = f"/v1/studies/{sid}"
    record = await trainer.store.get(sid)
    if record and (record["state"] in ACTIVE or record["state"] == "completed"):
        response.status_code = status.HTTP_200_OK
        return await _view(trainer, record)
    await _queue(trainer, sid, body.dataset, version, config, record)
    request = TrainingRequested(
        dataset=body.dataset, version=version, reason=body.reason, requested_by="api", overrides=overrides
    )
    attempt = record["attempts"] if record else 0
    event = Envelope.wrap(
        request,
        source="trainer",
        correlation_id=uuid.uuid4().hex,
        event_id=uuid.uuid5(_REQUEST_IDS, f"{sid}#{attempt}").hex,  # one dispatch per study and attempt
    )
    task = asyncio.create_task(_dispatch(bus, event, sid), name=f"study-{sid}")
    trainer.api_tasks.add(task)
    task.add_done_callback(trainer.api_tasks.discard)
    return await _view(trainer, await trainer.store.get(sid) or {})


async def _queue(trainer: Trainer, sid: str, dataset: str, version: str, config: Any, record: Any) -> None:
    if record is not None:
        await trainer.store.update(sid, state="queued", reason=None)
        return
    await trainer.store.queued(
        sid,
        dataset=dataset,
        version=version,
        trigger="api",
        backend=trainer.backend.name,
        n_trials=config.n_trials,
        timeout_seconds=config.timeout_seconds,
        config=config.model_dump(mode="json"),
        storage=trainer.storage_for(sid).split("@")[-1],
    )


async def _dispatch(bus: MessageBus, event: Envelope, sid: str) -> None:
    try:
        await bus.dispatch(event)
    except InProgressElsewhere:
        log.info("study %s is being run by another worker", sid)
    except Exception:  # recorded on the study; a new request retries
        log.exception("study %s failed", sid)


@router.get("/{sid}", response_model=Study, summary="A study: state, trials done of total, best value, ETA")
async def get_study(sid: str, trainer: Deps) -> Study:
    record = await trainer.store.get(sid)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {sid}")
    return await _view(trainer, record)


@router.get("", response_model=list[Study], summary="Recent studies, newest first")
async def list_studies(
    trainer: Deps,
    dataset: Annotated[str | None, Query(description="Only this data set")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[Study]:
    return [Study(**{k: v for k, v in r.items() if k != "storage"}) for r in await trainer.store.recent(limit, dataset)]


@router.delete("/{sid}", status_code=status.HTTP_202_ACCEPTED, response_model=Study, summary="Cancel a study")
async def cancel_study(sid: str, trainer: Deps) -> Study:
    """The worker stops at its next epoch end (or is killed after the grace period); the running trial is recorded
    as failed, no model is published, and `training.failed` says it was cancelled."""
    record = await trainer.store.get(sid)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {sid}")
    if record["state"] in FINAL:
        raise HTTPException(status.HTTP_409_CONFLICT, f"study {sid} is already {record['state']}")
    await trainer.store.update(sid, state="cancelling")
    return await _view(trainer, await trainer.store.get(sid) or record)
