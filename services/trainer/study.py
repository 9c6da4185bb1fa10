"""The Optuna study: storage, seeded sampler, pruner, the objective, crash recovery and the trial budget.

- Storage: `journal:<path>` (a local file, the default), or an SQLAlchemy URL (SQLite, PostgreSQL). Several worker
  processes, on one machine or many, share a study through the same storage (Optuna's distributed mode).
- Sampler: TPE whose random state is re-seeded before every trial from (study seed, trial number). A single worker
  gets the same trials run after run; concurrent workers draw different trials (their numbers differ) instead of
  drawing the same startup trials from identically seeded generators.
- Budget: `n_trials` counts finished trials (complete, pruned, failed) across all workers. Trial numbers are claimed
  atomically by the storage, so a trial that starts when the budget is used up ends at once as `surplus` and never
  trains; trials cut short by a crash (`interrupted`) do not count and their parameters are retried.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.samplers import RandomSampler, TPESampler
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.trial import FrozenTrial, TrialState

from services.trainer.spec import JobSpec, StudyConfig, trial_seed

log = logging.getLogger(__name__)
EXCLUDED = ("interrupted", "surplus")  # user attrs of FAIL trials that did not use a slot of the budget
WORKER = f"{socket.gethostname()}:{os.getpid()}"
_SCHEMA_LOCK_KEY = 0x6F70_7475  # PostgreSQL advisory lock key for creating Optuna's schema ("optu")


class TrialSeededTPE(TPESampler):
    """TPE with its random state derived from (seed, trial number) before each trial."""

    def __init__(self, seed: int, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self._base_seed = seed

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        seed = trial_seed(self._base_seed, trial.number)
        self._rng = LazyRandomState(seed)
        self._random_sampler = RandomSampler(seed=seed)
        super().before_trial(study, trial)


def open_storage(url: str, heartbeat_seconds: int = 10) -> Any:
    """A journal file (`journal:<path>`) or an RDB storage with heartbeats, so a dead worker's trial is failed."""
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = url.removeprefix("journal:")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return JournalStorage(JournalFileBackend(path))
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        with _schema_lock(url):
            return _rdb_storage(url, heartbeat_seconds)
    return _rdb_storage(url, heartbeat_seconds)


def _rdb_storage(url: str, heartbeat_seconds: int) -> Any:
    return optuna.storages.RDBStorage(
        url,
        heartbeat_interval=heartbeat_seconds,
        grace_period=heartbeat_seconds * 3,
        engine_kwargs={"pool_pre_ping": True},
    )


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while RDBStorage creates Optuna's tables if they are missing: workers started
    together on an empty database otherwise race on CREATE TABLE, and all but one fail with a unique violation."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK_KEY})
    finally:
        engine.dispose()


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=config.pruner_startup_trials, n_warmup_steps=config.pruner_warmup_epochs
    )


def open_study(spec: JobSpec, storage: Any) -> optuna.Study:
    config = spec.config
    sampler = TrialSeededTPE(
        config.seed, n_startup_trials=config.tpe_startup_trials, multivariate=True, group=True, constant_liar=True
    )
    study = optuna.create_study(
        study_name=spec.study_id,
        storage=storage,
        direction="maximize",
        sampler=sampler,
        pruner=make_pruner(config),
        load_if_exists=True,
    )
    if "started_at" not in study.user_attrs:
        study.set_user_attr("started_at", time.time())
        study.set_user_attr("dataset", spec.dataset)
        study.set_user_attr("version", spec.version)
        study.set_user_attr("config", config.model_dump(mode="json"))
    return study


def excluded(trial: FrozenTrial) -> bool:
    return any(trial.user_attrs.get(name) for name in EXCLUDED)


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that used a slot of the budget: finished, and neither interrupted nor surplus."""
    return [t for t in trials if t.state.is_finished() and not excluded(t)]


def recover_interrupted(study: optuna.Study, journal: bool) -> list[int]:
    """Trials left RUNNING by a worker that died: fail them as `interrupted` and queue their parameters again.

    RDB storages do this with heartbeats (a trial without a recent heartbeat is failed by the next worker). A
    journal file has no heartbeats; it is local to one machine and the message's idempotency lease guarantees no
    other worker runs this study now, so what is RUNNING here is dead.
    """
    if not journal:
        return []
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", "interrupted: its worker died")
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)
        recovered.append(trial.number)
    if recovered:
        log.warning("trials %s were interrupted by a crash; their parameters run again", recovered)
    return recovered


def remaining_seconds(study: optuna.Study, config: StudyConfig) -> float | None:
    """What is left of the time budget, counted from the study's first start (a resumed study does not restart it)."""
    if config.timeout_seconds is None:
        return None
    started = float(study.user_attrs.get("started_at", time.time()))
    return max(0.0, config.timeout_seconds - (time.time() - started))


class BudgetExhausted(Exception):
    """This trial's slot is beyond the budget (other workers used it up): it ends without training."""


def claim_slot(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> None:
    """Raise `BudgetExhausted` when `n_trials` slots are already taken by trials numbered before this one."""
    before = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number and not excluded(t)]
    if len(before) >= n_trials:
        trial.set_user_attr("surplus", True)  # the budget callback stops this worker after it
        raise BudgetExhausted(f"the study's {n_trials} trials are taken")


def budget_callback(n_trials: int) -> Callable[[optuna.Study, FrozenTrial], None]:
    def stop_when_done(study: optuna.Study, _trial: FrozenTrial) -> None:
        if len(counted(study.get_trials(deepcopy=False))) >= n_trials:
            study.stop()

    return stop_when_done
