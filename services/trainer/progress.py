"""A running study's progress, read from its Optuna storage (the truth, whichever worker runs the trials)."""

from __future__ import annotations

import time
from statistics import mean
from typing import Any

import optuna
from optuna.trial import TrialState

from services.trainer.study import counted, open_storage

_STORAGES: dict[str, Any] = {}


def _storage(url: str) -> Any:
    # RDB storages build an engine and check the schema when created: keep one per URL for the API's reads.
    if url not in _STORAGES:
        _STORAGES[url] = open_storage(url)
    return _STORAGES[url]


def read_progress(storage_url: str, study_id: str, n_trials: int, timeout_seconds: float | None) -> dict[str, Any]:
    """Trials done of total, best value so far, what runs now, and an ETA (blocking: call it in a thread)."""
    if storage_url.startswith("journal:") and not _journal_exists(storage_url):
        return {"trials_done": 0, "trials_total": n_trials}
    try:
        study = optuna.load_study(study_name=study_id, storage=_storage(storage_url))
    except KeyError:  # not created yet: the worker is starting
        return {"trials_done": 0, "trials_total": n_trials}
    trials = study.get_trials(deepcopy=False)
    done = counted(trials)
    complete = [t for t in done if t.state == TrialState.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: (t.value, -t.number), default=None)
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in done
        if t.datetime_complete and t.datetime_start
    ]
    return {
        "trials_done": len(done),
        "trials_total": n_trials,
        "trials_running": sum(t.state == TrialState.RUNNING for t in trials),
        "completed": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in done),
        "failed": sum(t.state == TrialState.FAIL for t in done),
        "best_value": best.value if best else None,
        "best_trial": best.number if best else None,
        "best_params": best.params if best else None,
        "eta_seconds": _eta(study, len(done), n_trials, durations, timeout_seconds),
    }


def _journal_exists(url: str) -> bool:
    import os

    return os.path.exists(url.removeprefix("journal:"))


def _eta(study: optuna.Study, done: int, total: int, durations: list[float], timeout: float | None) -> float | None:
    """Mean trial time x trials left, capped by what is left of the time budget, plus one retrain."""
    if not durations:
        return None
    per_trial = mean(durations)
    left = per_trial * max(total - done, 0)
    if timeout is not None and "started_at" in study.user_attrs:
        left = min(left, max(0.0, timeout - (time.time() - float(study.user_attrs["started_at"]))))
    return round(left + per_trial, 1)
