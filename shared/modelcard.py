"""The model card: what a trained candidate is, how good it is, and where it came from.

Written by the trainer next to the model file (`models/{name}/{candidate}/model_card.json`), read by the registry
(lineage, gates), inference (label set, transformer) and monitor (reference metrics).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.events import S3Location

LABEL_TYPE = "class"  # the Flair label type every model of the platform predicts
MODEL_FILE = "model.pt"
CARD_FILE = "model_card.json"
REFERENCE_FILE = "reference.jsonl"  # per-row predictions on the data set's splits, the monitor's reference


def model_prefix(model_name: str, candidate_id: str) -> str:
    return f"models/{model_name}/{candidate_id}/"


class ClassMetrics(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class Metrics(BaseModel):
    """Classification metrics on one split; the same shape everywhere (trainer, registry, monitor)."""

    model_config = ConfigDict(extra="allow")

    n: int
    accuracy: float
    macro_f1: float
    mcc: float
    per_class: dict[str, ClassMetrics]
    labels: list[str]
    confusion_matrix: list[list[int]]  # rows: true label, columns: predicted, in `labels` order


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = 1
    model_name: str
    candidate_id: str
    study_id: str
    created_at: str
    dataset: str
    dataset_version: str
    dataset_digest: str
    manifest: S3Location
    transformer: S3Location
    labels: list[str]
    label_type: str = LABEL_TYPE
    embeddings: str
    params: dict[str, Any]
    objective: str
    best_value: float
    dev_metrics: Metrics
    test_metrics: Metrics
    seed: int
    code_version: str
    library_versions: dict[str, str]
    artifact: S3Location
    artifact_sha256: str
    artifact_bytes: int
    training_seconds: float
    reference: S3Location | None = None
    triggered_by: str = "system"
