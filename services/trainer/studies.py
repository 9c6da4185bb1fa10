"""Running a study for the service: find the prepared data set, check it, announce the start, hand the job to the
backend (a worker process or SageMaker), publish the best model and announce the end.

Deterministic failures (missing files, a class absent from dev, every trial failing, a best trial that does not
reproduce) end in `training.failed` with the reason and a finished message. A worker that dies without an outcome
raises, so SQS redelivers the message and the study resumes from its storage: finished trials are not run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from services.trainer.backends import Backend, WorkerCrashed
from services.trainer.publish import publish
from services.trainer.records import StudyStore
from services.trainer.settings import TrainerSettings
from services.trainer.spec import JobSpec, StudyConfig, study_id
from shared.bus import HandlerContext
from shared.datasets import SPLITS, Manifest, manifest_key, mapping_from_metadata, processed_prefix
from shared.events import S3Location, TrainingFailed, TrainingStarted

log = logging.getLogger(__name__)


class StudyProblem(ValueError):
    """The request cannot be trained (bad manifest, bad corpus): announced as training.failed."""


@dataclass
class Trainer:
    """The trainer's dependencies, built once in `bootstrap`."""

    settings: TrainerSettings
    s3: Any
    store: StudyStore
    backend: Backend
    bucket: str
    work_dir: Path
    data_dir: Path
    code_version: str
    slots: asyncio.Semaphore
    api_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def storage_for(self, sid: str) -> str:
        if self.settings.storage_url:
            return self.settings.storage_url
        return f"journal:{(self.work_dir / 'studies' / f'{sid}.journal').resolve()}"

    async def load_manifest(self, dataset: str, version: str) -> tuple[Manifest, dict[str, str]] | None:
        try:
            got = await self.s3.get_object(Bucket=self.bucket, Key=manifest_key(dataset, version))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        async with got["Body"] as body:
            manifest = Manifest.model_validate_json(await body.read())
        return manifest, {str(k).lower(): str(v) for k, v in got.get("Metadata", {}).items()}

    async def latest_version(self, dataset: str) -> str | None:
        """The version whose manifest was written last (prep writes the manifest last)."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"processed/{dataset}/")
        newest: tuple[Any, str] | None = None
        async for page in pages:
            for obj in page.get("Contents", []):
                parts = obj["Key"].split("/")
                if (
                    len(parts) == 4
                    and parts[3] == "manifest.json"
                    and (newest is None or obj["LastModified"] > newest[0])
                ):
                    newest = (obj["LastModified"], parts[2])
        return newest[1] if newest else None

    async def correlation_of(self, manifest: Manifest, metadata: dict[str, str]) -> str | None:
        """The data set's correlation id: on the manifest, else on the raw upload it was prepared from."""
        _, provenance = mapping_from_metadata(metadata)
        if cid := provenance.get("correlation-id"):
            return cid
        source = manifest.source
        extra = {"VersionId": source.version_id} if source.version_id else {}
        try:
            head = await self.s3.head_object(Bucket=source.bucket, Key=source.key, **extra)
        except ClientError:
            return None
        _, provenance = mapping_from_metadata({str(k).lower(): str(v) for k, v in head.get("Metadata", {}).items()})
        return provenance.get("correlation-id")

    async def check_inputs(self, manifest: Manifest) -> None:
        missing = []
        for split in SPLITS:
            entry = manifest.files.get(split)
            if entry is None:
                missing.append(f"{split} (not in the manifest)")
                continue
            try:
                await self.s3.head_object(Bucket=self.bucket, Key=entry.key)
            except ClientError:
                missing.append(entry.key)
        if missing:
            raise StudyProblem(f"the manifest names files that are missing: {', '.join(missing)}")
        train = manifest.splits.get("train")
        dev = manifest.splits.get("dev")
        if train and dev:
            absent = sorted(label for label, n in train.per_label.items() if n and not dev.per_label.get(label))
            if absent:
                raise StudyProblem(f"class(es) {absent} have no dev rows: the dev objective cannot score them")

    async def download(self, manifest: Manifest, target: Path) -> None:
        await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
        for split in SPLITS:
            entry = manifest.files[split]
            got = await self.s3.get_object(Bucket=self.bucket, Key=entry.key)
            async with got["Body"] as body:
                data = await body.read()
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise StudyProblem(f"{entry.key} does not match the manifest's sha256")
            await asyncio.to_thread((target / f"{split}.txt").write_bytes, data)

    def spec(self, sid: str, manifest: Manifest, config: StudyConfig, correlation_id: str) -> JobSpec:
        return JobSpec(
            study_id=sid,
            dataset=manifest.dataset,
            version=manifest.version,
            config=config,
            storage=self.storage_for(sid),
            correlation_id=correlation_id,
            tracking=self.settings.tracking(self.data_dir),
            reference_train_rows=self.settings.reference_train_rows,
            retrain_tolerance=self.settings.retrain_tolerance,
            plotly_js=self.settings.plotly_js,
        )


async def run_study(
    trainer: Trainer, dataset: str, version: str, config: StudyConfig, ctx: HandlerContext, trigger: str
) -> None:
    """Run (or resume) the study of one data set version and configuration, end to end."""
    sid = study_id(dataset, version, config)
    found = await trainer.load_manifest(dataset, version)
    if found is None:
        await _fail(
            trainer, ctx, sid, dataset, version, f"no prepared data set: {manifest_key(dataset, version)} is missing"
        )
        return
    manifest, metadata = found
    if trigger == "s3" and (cid := await trainer.correlation_of(manifest, metadata)):
        ctx.bind_correlation(cid)
    storage = trainer.storage_for(sid)
    await trainer.store.queued(
        sid,
        dataset=dataset,
        version=version,
        trigger=trigger,
        backend=trainer.backend.name,
        n_trials=config.n_trials,
        timeout_seconds=config.timeout_seconds,
        config=config.model_dump(mode="json"),
        storage=storage.split("@")[-1],
        correlation_id=ctx.correlation_id,
    )
    record = await trainer.store.get(sid)
    if record and record["state"] == "completed":
        log.info("study %s is already complete; nothing to do", sid)
        return
    try:
        await trainer.check_inputs(manifest)
    except StudyProblem as problem:
        await _fail(trainer, ctx, sid, dataset, version, str(problem))
        return
    location = S3Location(bucket=trainer.bucket, key=manifest_key(dataset, version))
    await ctx.emit(
        TrainingStarted(
            study_id=sid,
            dataset=dataset,
            version=version,
            manifest=location,
            n_trials=config.n_trials,
            backend=trainer.backend.name,
        )
    )
    async with trainer.slots:
        await _run_job(trainer, ctx, sid, manifest, config, trigger)


async def _run_job(
    trainer: Trainer, ctx: HandlerContext, sid: str, manifest: Manifest, config: StudyConfig, trigger: str
) -> None:
    record = await trainer.store.get(sid)
    if record and record["state"] == "cancelling":  # cancelled while it waited for a slot
        await _cancelled(trainer, ctx, sid, manifest)
        return
    await trainer.store.running(sid, correlation_id=ctx.correlation_id)
    work = trainer.work_dir / "jobs" / sid
    log.info(
        "study %s starts: %d trials, budget %ss",
        sid,
        config.n_trials,
        config.timeout_seconds,
        extra={"study_id": sid, "dataset": manifest.dataset, "version": manifest.version},
    )
    try:
        await trainer.download(manifest, work / "data")
        spec = trainer.spec(sid, manifest, config, ctx.correlation_id)
        watcher = asyncio.create_task(_watch_for_cancel(trainer, sid), name=f"cancel-watch-{sid}")
        try:
            outcome = await trainer.backend.run(spec, work / "data", work / "out", processed_prefix(*_ids(manifest)))
        finally:
            watcher.cancel()
    except StudyProblem as problem:
        await _fail(trainer, ctx, sid, manifest.dataset, manifest.version, str(problem))
        return
    except WorkerCrashed as crash:
        if (await trainer.store.get(sid) or {}).get("state") == "cancelling":  # killed after the grace period
            await _cancelled(trainer, ctx, sid, manifest)
            await asyncio.to_thread(shutil.rmtree, work, True)
            return
        await trainer.store.update(sid, state="queued", reason=f"{crash}; resuming on redelivery")
        raise
    await _conclude(trainer, ctx, sid, manifest, outcome, work, trigger)


def _ids(manifest: Manifest) -> tuple[str, str]:
    return manifest.dataset, manifest.version


async def _watch_for_cancel(trainer: Trainer, sid: str, interval: float = 1.0) -> None:
    """DELETE marks the record `cancelling` (on whichever replica it reached); the replica running it stops it."""
    while True:
        await asyncio.sleep(interval)
        record = await trainer.store.get(sid)
        if record and record["state"] == "cancelling":
            log.warning("study %s: cancellation requested, stopping its worker", sid)
            await trainer.backend.cancel(sid)
            return


async def _conclude(
    trainer: Trainer,
    ctx: HandlerContext,
    sid: str,
    manifest: Manifest,
    outcome: dict[str, Any],
    work: Path,
    trigger: str,
) -> None:
    status = outcome.get("status")
    if status == "cancelled" or (await trainer.store.get(sid) or {}).get("state") == "cancelling":
        await _cancelled(trainer, ctx, sid, manifest)
    elif status != "completed":
        await _fail(trainer, ctx, sid, manifest.dataset, manifest.version, str(outcome.get("reason", "unknown")))
    else:
        name = trainer.settings.model_name_for(manifest.dataset)
        completed = await publish(
            trainer.s3, trainer.bucket, work / "out", outcome, manifest, name, trainer.code_version, trigger
        )
        await ctx.emit(completed)
        summary = {
            "model_name": completed.model_name,
            "candidate_id": completed.candidate_id,
            "artifact": completed.artifact.uri,
            "model_card": completed.model_card.uri,
            "experiments_prefix": completed.experiments_prefix,
            "best_value": completed.best_value,
            "best_trial": outcome.get("best_trial"),
            "params": completed.params,
            "trials": outcome.get("trials"),
            "dev": {k: completed.dev_metrics[k] for k in ("accuracy", "macro_f1", "mcc")},
            "test": {k: completed.test_metrics[k] for k in ("accuracy", "macro_f1", "mcc")},
            "wandb_dirs": outcome.get("wandb_dirs", []),
        }
        await trainer.store.update(sid, state="completed", outcome=summary)
        log.info(
            "study %s completed: candidate %s, %s %.4f",
            sid,
            completed.candidate_id,
            completed.objective,
            completed.best_value,
            extra={"study_id": sid},
        )
    await asyncio.to_thread(shutil.rmtree, work, True)


async def _cancelled(trainer: Trainer, ctx: HandlerContext, sid: str, manifest: Manifest) -> None:
    reason = "cancelled on request (DELETE /v1/studies)"
    await ctx.emit(TrainingFailed(study_id=sid, dataset=manifest.dataset, version=manifest.version, reason=reason))
    await trainer.store.update(sid, state="cancelled", reason=reason)
    log.warning("study %s cancelled", sid)


async def _fail(trainer: Trainer, ctx: HandlerContext, sid: str, dataset: str, version: str, reason: str) -> None:
    await ctx.emit(TrainingFailed(study_id=sid, dataset=dataset, version=version, reason=reason))
    if await trainer.store.get(sid):
        await trainer.store.update(sid, state="failed", reason=reason)
    log.error("study %s failed: %s", sid, reason, extra={"study_id": sid})
