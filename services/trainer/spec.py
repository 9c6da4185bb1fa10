"""What a study is (its configuration and identity) and what a worker is handed to run one (`JobSpec`).

A study's identity is the data set version plus a digest of its configuration: the same version and configuration
always name the same Optuna study, so a redelivered message or a repeated request continues that study (finished
trials are kept) instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.trainer.space import SearchSpace

Objective = Literal["macro_f1", "accuracy", "mcc"]
OBJECTIVES: tuple[str, ...] = ("macro_f1", "accuracy", "mcc")


class StudyConfig(BaseModel):
    """Everything that decides a study's trials (and so its identity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space: SearchSpace = SearchSpace()
    objective: Objective = "macro_f1"
    n_trials: int = Field(30, ge=1, le=10_000)
    timeout_seconds: float | None = Field(1200, gt=0, description="Time budget of the trials; None: no limit.")
    seed: int = Field(42, ge=0)
    threads: int = Field(1, ge=1, le=64)
    pruner: Literal["median", "none"] = "median"
    pruner_startup_trials: int = Field(5, ge=0)
    pruner_warmup_epochs: int = Field(2, ge=0)
    tpe_startup_trials: int = Field(8, ge=1)

    def digest(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def study_id(dataset: str, version: str, config: StudyConfig) -> str:
    """`<dataset>-<version>-<config digest>`: safe as an S3 key part, a W&B group and an Optuna study name."""
    safe = re.sub(r"[^A-Za-z0-9-]", "-", dataset)[:40].strip("-") or "dataset"
    return f"{safe}-{version[:10]}-{config.digest()[:8]}"


def trial_seed(study_seed: int, trial_number: int) -> int:
    """The seed of one trial, from the study's seed and the trial's number only (not from what ran before)."""
    digest = hashlib.sha256(f"{study_seed}:{trial_number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


class TrackingConfig(BaseModel):
    """Weights & Biases: online with WANDB_API_KEY, offline (synced later with `wandb sync`) without, or disabled."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["online", "offline", "disabled"] = "offline"
    project: str = "mlops-trainer"
    entity: str | None = None
    dir: str | None = None


class JobSpec(BaseModel):
    """Everything one worker process needs to run (or join, or resume) a study and retrain its best trial."""

    model_config = ConfigDict(frozen=True)

    study_id: str
    dataset: str
    version: str
    config: StudyConfig
    storage: str = Field(description="An SQLAlchemy URL (sqlite, postgresql) or journal:<path>.")
    correlation_id: str = ""
    tracking: TrackingConfig = TrackingConfig()
    reference_train_rows: int = Field(1000, ge=0)
    retrain_tolerance: float = Field(1e-9, ge=0)
    plotly_js: Literal["inline", "cdn"] = "inline"
    retrain: bool = Field(True, description="False: only run trials (an extra worker joining a shared study).")
    heartbeat_seconds: int = Field(10, ge=1)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls.model_validate_json(text)


def spec_summary(spec: JobSpec) -> dict[str, Any]:
    return {"study_id": spec.study_id, "dataset": spec.dataset, "version": spec.version, "storage": spec.storage}
