"""The monitor's settings (`MONITOR_*`), validated at start-up.

Noise control lives here: how many rows a run compares (a fixed-size sample, so a verdict does not depend on how
much traffic there was), below how many it refuses to decide, how long a drift must persist before it is raised as
high severity, and one threshold per check. The thresholds are effect sizes (distances, ROC AUC, metric drops), not
p-values: with a fixed sample size they have a fixed false-alarm rate, and they do not call every tiny change
"significant" once traffic is large.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.aws import custom_endpoint

NumericMethod = Literal["wasserstein", "ks", "psi", "jensenshannon", "hellinger", "energy_dist"]
CategoricalMethod = Literal["jensenshannon", "psi", "hellinger", "chisquare", "TVD"]


class MonitorSettings(BaseSettings):
    """Sampling, noise control, per-check thresholds, the retraining policy, the schedule and pipeline health."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore", frozen=True)

    # ------------------------------------------------------------------ samples
    sample_size: int = Field(500, ge=20, description="Current rows compared per run (a seeded sample above it).")
    reference_size: int = Field(2000, ge=20, description="Reference rows kept per promoted model (seeded sample).")
    min_samples: int = Field(100, ge=5, description="Fewer captured rows: verdict not_enough_data.")
    min_labels: int = Field(50, ge=5, description="Fewer feedback labels: the concept check does not decide.")
    seed: int = Field(17, ge=0, description="Seed of every sample (with the environment and window).")
    feedback_grace_days: float = Field(
        14.0, ge=0, description="Feedback labels sent up to this long after a window still count for it."
    )

    # ------------------------------------------------------------------ thresholds, one set per check
    descriptor_method: NumericMethod = "wasserstein"
    descriptor_threshold: float = Field(0.3, gt=0, description="Per descriptor (normed Wasserstein by default).")
    descriptor_drift_share: float = Field(
        0.25, gt=0, le=1, description="Share of descriptors that must drift for the descriptor check to drift."
    )
    content_threshold: float = Field(
        0.99, gt=0.5, lt=1, description="Domain classifier: ROC AUC above this percentile of random classifiers."
    )
    content_min_auc: float = Field(
        0.62, ge=0.5, lt=1, description="Domain classifier: and at least this ROC AUC (an effect-size floor)."
    )
    prediction_method: CategoricalMethod = "jensenshannon"
    prediction_threshold: float = Field(0.1, gt=0, description="Predicted-label distribution distance.")
    confidence_method: NumericMethod = "wasserstein"
    confidence_threshold: float = Field(0.2, gt=0, description="Confidence distribution distance.")
    max_accuracy_drop: float = Field(0.1, gt=0, lt=1, description="Concept: accuracy below the test accuracy by.")
    max_f1_drop: float = Field(0.1, gt=0, lt=1, description="Concept: macro F1 below the test macro F1 by.")

    # ------------------------------------------------------------------ alerting
    persistence_runs: int = Field(
        2, ge=1, le=20, description="Consecutive drifted runs before a drift is raised as high severity."
    )
    retrain_policy: Literal["alert", "retrain"] = Field(
        "alert", description="On high-severity drift: only alert, or also request training on the latest data."
    )
    report_base_url: str | None = Field(
        None, description="Base of report links in events (default: MLOPS_MONITOR_URL, this service's API)."
    )

    # ------------------------------------------------------------------ schedule and pipeline health
    embedded_scheduler: bool | None = Field(
        None, description="Run MLOPS_DRIFT_SCHEDULE in-process (default: on when AWS_ENDPOINT_URL names an emulator)."
    )
    health_enabled: bool = True
    health_interval_seconds: float = Field(60.0, gt=0, description="How often queues and DLQs are inspected.")
    max_queue_age_seconds: float = Field(3600.0, gt=0, description="A backlog older than this is stuck work.")
    realert_seconds: float = Field(6 * 3600.0, ge=0, description="Repeat an unchanged pipeline alert after this.")

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSettings:
        if self.min_samples > self.sample_size:
            raise ValueError("min_samples must not exceed sample_size")
        if self.min_samples > self.reference_size:
            raise ValueError("min_samples must not exceed reference_size")
        return self

    @property
    def scheduler_embedded(self) -> bool:
        """Emulators never fire EventBridge schedules, so the monitor runs the schedule itself there."""
        return self.embedded_scheduler if self.embedded_scheduler is not None else custom_endpoint() is not None
