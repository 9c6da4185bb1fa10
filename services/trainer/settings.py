"""The trainer's settings (`TRAINER_*`), validated at start-up. The default study is configuration too."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.trainer.space import SearchSpace
from services.trainer.spec import Objective, StudyConfig, TrackingConfig


class TrainerSettings(BaseSettings):
    """What a study triggered by a prepared data set looks like, where studies are stored, and where training runs."""

    model_config = SettingsConfigDict(env_prefix="TRAINER_", extra="ignore", frozen=True)

    model_name: str = Field("{dataset}-clf", description="Name of the trained models; `{dataset}` is replaced.")
    # --- the default study (POST /v1/studies may override each of these)
    n_trials: int = Field(30, ge=1, le=10_000)
    timeout_seconds: float | None = Field(1200, gt=0, description="Time budget of a study's trials (seconds).")
    objective: Objective = Field("macro_f1", description="Dev metric to maximise: macro_f1, accuracy or mcc.")
    search_space: SearchSpace = Field(default_factory=SearchSpace, description="JSON, see services/trainer/space.py.")
    seed: int = Field(42, ge=0, description="Study seed: the sampler's and, with the trial number, each trial's.")
    threads: int = Field(
        1, ge=1, le=64, description="torch threads per trial (part of the result; 1 is fastest on a busy machine)."
    )
    pruner: Literal["median", "none"] = "median"
    pruner_startup_trials: int = Field(5, ge=0)
    pruner_warmup_epochs: int = Field(2, ge=0)
    tpe_startup_trials: int = Field(8, ge=1)
    # --- storage and workers
    storage_url: str | None = Field(
        None, description="Optuna storage: postgresql://... or sqlite:///...; default a journal file per study."
    )
    max_parallel_studies: int = Field(1, ge=1, description="Studies this process runs at once (each uses a worker).")
    work_dir: Path | None = Field(None, description="Scratch space (default <data_dir>/trainer).")
    cancel_grace_seconds: float = Field(30, ge=0, description="After DELETE, how long a worker may take to stop.")
    reference_train_rows: int = Field(1000, ge=0, description="Train rows sampled into reference.jsonl.")
    retrain_tolerance: float = Field(1e-9, ge=0, description="How far the retrained value may be from the trial's.")
    plotly_js: Literal["inline", "cdn"] = Field("inline", description="inline: plots work offline (3.5 MB each).")
    # --- tracking
    wandb_project: str = "mlops-trainer"
    wandb_entity: str | None = None
    wandb_mode: Literal["auto", "online", "offline", "disabled"] = Field(
        "auto", description="auto: online with WANDB_API_KEY, offline without."
    )
    wandb_dir: Path | None = Field(None, description="Where W&B writes runs (default <data_dir>/trainer/wandb).")
    # --- where training runs
    backend: Literal["local", "sagemaker"] = "local"
    sagemaker_image: str | None = Field(None, description="ECR image URI of the trainer (entry point: trainer job).")
    sagemaker_role_arn: str | None = None
    sagemaker_instance_type: str = "ml.m5.xlarge"
    sagemaker_instance_count: int = Field(1, ge=1)
    sagemaker_volume_gb: int = Field(30, ge=1)
    sagemaker_max_runtime_seconds: int = Field(4 * 3600, ge=60)
    sagemaker_poll_seconds: float = Field(30, gt=0)
    sagemaker_artifact_wait_seconds: float = Field(300, ge=0, description="How long to wait for model.tar.gz.")

    @model_validator(mode="after")
    def _consistent(self) -> TrainerSettings:
        if "{dataset}" not in self.model_name and not self.model_name.strip():
            raise ValueError("model_name must not be empty")
        if self.backend == "sagemaker" and not (self.sagemaker_image and self.sagemaker_role_arn):
            raise ValueError("backend sagemaker needs TRAINER_SAGEMAKER_IMAGE and TRAINER_SAGEMAKER_ROLE_ARN")
        return self

    def default_study(self) -> StudyConfig:
        return StudyConfig(
            space=self.search_space,
            objective=self.objective,
            n_trials=self.n_trials,
            timeout_seconds=self.timeout_seconds,
            seed=self.seed,
            threads=self.threads,
            pruner=self.pruner,
            pruner_startup_trials=self.pruner_startup_trials,
            pruner_warmup_epochs=self.pruner_warmup_epochs,
            tpe_startup_trials=self.tpe_startup_trials,
        )

    def model_name_for(self, dataset: str) -> str:
        return self.model_name.replace("{dataset}", dataset)

    def tracking(self, data_dir: Path) -> TrackingConfig:
        mode = self.wandb_mode
        if mode == "auto":
            mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
        directory = self.wandb_dir or data_dir / "trainer" / "wandb"
        return TrackingConfig(mode=mode, project=self.wandb_project, entity=self.wandb_entity, dir=str(directory))
