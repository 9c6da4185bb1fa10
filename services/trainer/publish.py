"""Publishing a finished study: the model, its card and reference predictions to `models/{name}/{candidate}/`, the
trial table, summary and plots to `experiments/{study}/`, and the `training.completed` payload.

The candidate id is derived from the study id, so publishing again after a crash overwrites the same keys and
emits the same payload instead of leaving a second candidate behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.datasets import Manifest, manifest_key
from shared.events import S3Location, TrainingCompleted
from shared.modelcard import CARD_FILE, MODEL_FILE, REFERENCE_FILE, Metrics, ModelCard, model_prefix


def candidate_id(study_id: str) -> str:
    return "c" + hashlib.sha256(study_id.encode()).hexdigest()[:12]


def experiments_prefix(study_id: str) -> str:
    return f"experiments/{study_id}/"


def content_type(path: Path) -> str:
    if path.suffix == ".jsonl":
        return "application/x-ndjson"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


async def upload_tree(s3: Any, bucket: str, folder: Path, prefix: str) -> list[str]:
    keys = []
    for path in await asyncio.to_thread(_files, folder):
        key = prefix + path.relative_to(folder).as_posix()
        await put_file(s3, bucket, key, path)
        keys.append(key)
    return keys


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


async def put_file(s3: Any, bucket: str, key: str, path: Path) -> None:
    body = await asyncio.to_thread(path.read_bytes)
    await s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type(path))


def build_card(
    outcome: dict[str, Any], manifest: Manifest, bucket: str, model_name: str, code_version: str, triggered_by: str
) -> ModelCard:
    candidate = candidate_id(outcome["study_id"])
    prefix = model_prefix(model_name, candidate)
    extra = {
        k: outcome.get(k)
        for k in ("best_trial", "best_epoch", "study_seed", "threads", "trials", "job_seconds", "experiments_prefix")
    }
    return ModelCard(
        model_name=model_name,
        candidate_id=candidate,
        study_id=outcome["study_id"],
        created_at=datetime.now(UTC).isoformat(),
        dataset=manifest.dataset,
        dataset_version=manifest.version,
        dataset_digest=manifest.output_digest,
        manifest=S3Location(bucket=bucket, key=manifest_key(manifest.dataset, manifest.version)),
        transformer=S3Location(bucket=bucket, key=manifest.transformer.key),
        labels=manifest.labels,
        embeddings=outcome.get("embeddings", ""),
        params=outcome["params"],
        objective=outcome["objective"],
        best_value=float(outcome["best_value"]),
        dev_metrics=Metrics.model_validate(outcome["dev_metrics"]),
        test_metrics=Metrics.model_validate(outcome["test_metrics"]),
        seed=int(outcome["seed"]),
        code_version=code_version,
        library_versions=outcome.get("library_versions", {}),
        artifact=S3Location(bucket=bucket, key=prefix + MODEL_FILE),
        artifact_sha256=outcome["artifact_sha256"],
        artifact_bytes=int(outcome["artifact_bytes"]),
        training_seconds=float(outcome.get("training_seconds", 0.0)),
        reference=S3Location(bucket=bucket, key=prefix + REFERENCE_FILE),
        triggered_by=triggered_by,
        **extra,
    )


async def publish(
    s3: Any,
    bucket: str,
    out_dir: Path,
    outcome: dict[str, Any],
    manifest: Manifest,
    model_name: str,
    code_version: str,
    triggered_by: str,
) -> TrainingCompleted:
    """Upload everything (model file first, card last: its presence means the candidate is complete)."""
    outcome = {**outcome, "experiments_prefix": experiments_prefix(outcome["study_id"])}
    card = build_card(outcome, manifest, bucket, model_name, code_version, triggered_by)
    prefix = model_prefix(model_name, card.candidate_id)
    await upload_tree(s3, bucket, out_dir / "experiments", outcome["experiments_prefix"])
    for name in (MODEL_FILE, REFERENCE_FILE):
        await put_file(s3, bucket, prefix + name, out_dir / name)
    card_location = S3Location(bucket=bucket, key=prefix + CARD_FILE)
    await s3.put_object(
        Bucket=bucket,
        Key=card_location.key,
        Body=card.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    trials = outcome.get("trials", {})
    return TrainingCompleted(
        study_id=card.study_id,
        model_name=model_name,
        candidate_id=card.candidate_id,
        dataset=manifest.dataset,
        version=manifest.version,
        dataset_digest=manifest.output_digest,
        manifest=card.manifest,
        artifact=card.artifact,
        artifact_sha256=card.artifact_sha256,
        model_card=card_location,
        experiments_prefix=outcome["experiments_prefix"],
        objective=card.objective,
        best_value=card.best_value,
        params=card.params,
        dev_metrics=card.dev_metrics.model_dump(),
        test_metrics=card.test_metrics.model_dump(),
        seed=card.seed,
        code_version=code_version,
        triggered_by=triggered_by,
        trials_completed=int(trials.get("completed", 0)),
        trials_pruned=int(trials.get("pruned", 0)),
        trials_failed=int(trials.get("failed", 0)),
    )
