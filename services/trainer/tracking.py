"""Weights & Biases tracking: one run per trial in a group named after the study, and one summary run per study.

Without WANDB_API_KEY the runs are written offline under the tracking directory (`wandb sync <dir>` uploads them
later). Tracking must never fail or slow down training: every call is guarded, W&B's console capture and system
stats are off, and a failure only logs a warning and turns tracking off for the rest of the study.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from services.trainer.spec import TrackingConfig

log = logging.getLogger(__name__)


class Tracker:
    """Opens and closes W&B runs for a study; a no-op when disabled or broken."""

    def __init__(self, config: TrackingConfig, study_id: str) -> None:
        self.config, self.study_id = config, study_id
        self.enabled = config.mode != "disabled"
        self.run: Any = None
        self.run_dirs: list[str] = []

    def _guard(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.enabled:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # W&B trouble must never fail a trial
            log.warning("W&B %s failed, tracking off for this study: %s", what, exc)
            self.enabled = False
            return None

    def start(self, name: str, job_type: str, config: dict[str, Any]) -> None:
        self._guard("init", self._start, name, job_type, config)

    def _start(self, name: str, job_type: str, config: dict[str, Any]) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ.setdefault("WANDB_DISABLE_GIT", "true")
        import wandb

        directory = Path(self.config.dir or ".")
        directory.mkdir(parents=True, exist_ok=True)
        settings = wandb.Settings(console="off", silent=True, x_disable_stats=True, x_disable_meta=True)
        self.run = wandb.init(
            project=self.config.project,
            entity=self.config.entity,
            group=self.study_id,
            name=name,
            job_type=job_type,
            config=config,
            dir=str(directory),
            mode=self.config.mode,
            settings=settings,
            reinit="finish_previous",
        )
        self.run_dirs.append(str(Path(self.run.dir).parent))

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self.run is not None:
            self._guard("log", self.run.log, metrics, step=step)

    def finish(self, summary: dict[str, Any] | None = None, exit_code: int = 0) -> None:
        run, self.run = self.run, None
        if run is None:
            return

        def close() -> None:
            for key, value in (summary or {}).items():
                run.summary[key] = value
            run.finish(exit_code=exit_code)

        self._guard("finish", close)
