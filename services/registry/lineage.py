"""Registering a trained candidate: verify its lineage, its artifact and its model card, then record the version.

A training event for a data set version the registry has never seen is normal under unordered, at-least-once
delivery (`training.completed` may overtake `dataset.prepared` in the queue), so the registry reads the manifest the
event names and records the data set from it when the manifest confirms the digest. When nothing confirms the data
(no manifest, another digest), the candidate is *recorded as rejected* with the reason and announced with
`model.rejected`: keeping the record makes the refusal visible (API, dashboard) and keeps registration idempotent on
the candidate id; a rejected version can never be reviewed, approved or promoted. The same holds for an artifact
whose bytes do not match the sha256 of the event (`integrity_failed`, plus `model.integrity_failed`).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from services.registry.artifacts import ArtifactStore, MissingObject
from services.registry.store import Catalog
from shared.datasets import Manifest
from shared.events import DatasetPrepared, S3Location, TrainingCompleted
from shared.modelcard import ModelCard

log = logging.getLogger(__name__)


async def verify_dataset(catalog: Catalog, store: ArtifactStore, tc: TrainingCompleted) -> tuple[str | None, str]:
    """(problem or None, how the data set is known: "event" or "manifest")."""
    known = await catalog.dataset(tc.dataset, tc.version)
    source = known["recorded_from"] if known else "manifest"
    if known is None:
        try:
            manifest = Manifest.model_validate_json(await store.read(tc.manifest))
        except MissingObject:
            return (
                f"data set {tc.dataset} version {tc.version} is unknown to the registry (no dataset.prepared) and "
                f"its manifest {tc.manifest.uri} does not exist",
                source,
            )
        except (ValidationError, ValueError):
            return f"the manifest {tc.manifest.uri} is not a valid manifest", source
        if (manifest.dataset, manifest.version) != (tc.dataset, tc.version):
            return f"the manifest {tc.manifest.uri} describes {manifest.dataset}@{manifest.version}", source
        await catalog.record_dataset(prepared_from(manifest, tc.manifest), "manifest")
        known = await catalog.dataset(tc.dataset, tc.version)
        assert known is not None
    if known["output_digest"] != tc.dataset_digest:
        return (
            f"data set digest mismatch: the training used {tc.dataset_digest}, "
            f"{tc.dataset}@{tc.version} was prepared as {known['output_digest']}",
            source,
        )
    return None, source


def prepared_from(manifest: Manifest, location: S3Location) -> DatasetPrepared:
    return DatasetPrepared(
        dataset=manifest.dataset,
        version=manifest.version,
        source=manifest.source,
        manifest=location,
        labels=manifest.labels,
        splits=manifest.splits,
        slice_columns=manifest.slice_columns,
        input_sha256=manifest.input_sha256,
        output_digest=manifest.output_digest,
        rows_in=manifest.rows_in,
        rows_dropped=manifest.rows_dropped,
    )


async def read_card(store: ArtifactStore, tc: TrainingCompleted) -> tuple[ModelCard | None, list[str]]:
    """The model card and what is missing or inconsistent in it (an incomplete card fails an approval gate)."""
    try:
        card = ModelCard.model_validate_json(await store.read(tc.model_card))
    except MissingObject:
        return None, [f"no model card at {tc.model_card.uri}"]
    except (ValidationError, ValueError) as exc:
        return None, [f"the model card is invalid: {str(exc).splitlines()[0]}"]
    checks = {
        "candidate_id": (card.candidate_id, tc.candidate_id),
        "artifact_sha256": (card.artifact_sha256, tc.artifact_sha256),
        "dataset": (card.dataset, tc.dataset),
        "dataset_version": (card.dataset_version, tc.version),
        "dataset_digest": (card.dataset_digest, tc.dataset_digest),
    }
    problems = [
        f"card {field} {mine!r} != event {theirs!r}" for field, (mine, theirs) in checks.items() if mine != theirs
    ]
    if not card.labels:
        problems.append("card names no labels")
    if card.test_metrics.n == 0:
        problems.append("card has no test metrics")
    if card.reference is None:
        problems.append("card names no reference predictions (the monitor needs them)")
    return card, problems


async def artifact_sha256(store: ArtifactStore, location: S3Location) -> str | None:
    try:
        return await store.sha256(location)
    except MissingObject:
        return None


def version_values(
    tc: TrainingCompleted,
    *,
    card: ModelCard | None,
    card_problems: list[str],
    actual_sha256: str | None,
    dataset_source: str,
    status: str,
    reason: str | None,
    correlation_id: str,
) -> dict[str, Any]:
    lineage = {
        "manifest": tc.manifest.uri,
        "model_card": tc.model_card.uri,
        "reference": card.reference.uri if card and card.reference else None,
        "transformer": card.transformer.uri if card else None,
        "labels": card.labels if card else [],
        "experiments_prefix": tc.experiments_prefix,
        "experiments_bucket": tc.artifact.bucket,
        "params": tc.params,
        "objective": tc.objective,
        "best_value": tc.best_value,
        "dev_metrics": tc.dev_metrics,
        "test_metrics": tc.test_metrics,
        "seed": tc.seed,
        "code_version": tc.code_version,
        "trials": {"completed": tc.trials_completed, "pruned": tc.trials_pruned, "failed": tc.trials_failed},
        "embeddings": card.embeddings if card else None,
        "artifact_bytes": card.artifact_bytes if card else None,
        "artifact_verified": actual_sha256 == tc.artifact_sha256,
        "artifact_actual_sha256": actual_sha256,
        "card_problems": card_problems,
        "dataset_recorded_from": dataset_source,
    }
    return {
        "model_name": tc.model_name,
        "candidate_id": tc.candidate_id,
        "status": status,
        "status_reason": reason,
        "study_id": tc.study_id,
        "dataset": tc.dataset,
        "dataset_version": tc.version,
        "dataset_digest": tc.dataset_digest,
        "lineage_verified": status != "rejected",
        "lineage": lineage,
        "artifact_uri": tc.artifact.uri,
        "artifact_sha256": tc.artifact_sha256,
        "triggered_by": tc.triggered_by,
        "correlation_id": correlation_id,
        "tracking": {},
    }
