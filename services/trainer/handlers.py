"""The trainer's one handler table: a new manifest under processed/ and `training.requested` both start a study."""

from __future__ import annotations

import functools
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.trainer.space import SearchSpace
from services.trainer.spec import Objective, StudyConfig
from services.trainer.studies import Trainer, run_study
from shared.bus import HandlerContext, HandlerTable
from shared.events import Envelope, TrainingFailed, TrainingRequested
from shared.messages import S3_OBJECT_CREATED, S3ObjectEvent

log = logging.getLogger(__name__)


class StudyOverrides(BaseModel):
    """Changes to the default study; `search_space` is partial (merged onto the default space)."""

    model_config = ConfigDict(extra="forbid")

    n_trials: int | None = Field(None, ge=1, le=10_000)
    timeout_seconds: float | None = Field(None, gt=0)
    objective: Objective | None = None
    seed: int | None = Field(None, ge=0)
    pruner: str | None = Field(None, pattern="^(median|none)$")
    search_space: dict[str, Any] | None = None

    def apply(self, base: StudyConfig) -> StudyConfig:
        """The resulting study configuration; raises ValueError (with the reason) when it makes no sense."""
        changes: dict[str, Any] = {k: v for k, v in self.model_dump(exclude={"search_space"}).items() if v is not None}
        if self.search_space:
            space = {**base.space.model_dump(), **self.search_space}
            changes["space"] = SearchSpace.model_validate(space)
        return StudyConfig.model_validate({**base.model_dump(), **changes})


def config_from(overrides: dict[str, Any], base: StudyConfig) -> StudyConfig:
    try:
        return StudyOverrides.model_validate(overrides).apply(base)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid study configuration: {details}") from exc


def manifest_version(key: str) -> tuple[str, str] | None:
    """`processed/{dataset}/{version}/manifest.json` -> (dataset, version); None for any other key."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "processed" and parts[3] == "manifest.json" and parts[1] and parts[2]:
        return parts[1], parts[2]
    return None


async def train_on_manifest(event: S3ObjectEvent, ctx: HandlerContext, trainer: Trainer) -> None:
    """A data set version is complete (prep writes its manifest last): run the default study on it."""
    found = manifest_version(event.key)
    if found is None or event.bucket != trainer.bucket:
        log.info("ignoring s3://%s/%s: not a manifest of the home bucket", event.bucket, event.key)
        return
    dataset, version = found
    await run_study(trainer, dataset, version, trainer.settings.default_study(), ctx, "s3")


async def train_on_request(event: Envelope, ctx: HandlerContext, trainer: Trainer) -> None:
    """Someone asked for a study (a person through the API or CLI, the monitor's retraining policy)."""
    request = event.payload_as(TrainingRequested)
    version = request.version or await trainer.latest_version(request.dataset)
    if version is None:
        reason = f"data set {request.dataset!r} has no prepared version"
        await ctx.emit(TrainingFailed(dataset=request.dataset, reason=reason))
        log.error("training request failed: %s", reason)
        return
    try:
        config = config_from(request.overrides, trainer.settings.default_study())
    except ValueError as exc:
        await ctx.emit(TrainingFailed(dataset=request.dataset, version=version, reason=str(exc)))
        log.error("training request failed: %s", exc)
        return
    trigger = "api" if request.requested_by.startswith("api") else "event"
    await run_study(trainer, request.dataset, version, config, ctx, trigger)


def handler_table(trainer: Trainer) -> HandlerTable:
    return {
        S3_OBJECT_CREATED: [functools.partial(train_on_manifest, trainer=trainer)],
        TrainingRequested.event_type: [functools.partial(train_on_request, trainer=trainer)],
    }
