"""The study itself, on a tiny real corpus: deterministic trial values run after run, a best trial that retrains to
the same value, trials that fail (raise, NaN loss) recorded with reasons while the study goes on, crash recovery,
and a budget that several workers share without running a slot twice."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from services.trainer import job
from services.trainer.modeling import EpochMonitor, NonFiniteLoss
from services.trainer.spec import JobSpec, StudyConfig, TrackingConfig
from services.trainer.study import (
    BudgetExhausted,
    TrialSeededTPE,
    claim_slot,
    counted,
    open_storage,
    open_study,
    recover_interrupted,
)
from services.trainer.tracking import Tracker
from tests.unit.trainer.conftest import TINY

pytestmark = pytest.mark.slow


def spec_for(tmp: Path, name: str, **config: object) -> JobSpec:
    return JobSpec(
        study_id=name,
        dataset="tickets",
        version="v1",
        config=StudyConfig(space=TINY, n_trials=3, timeout_seconds=None, **config),  # type: ignore[arg-type]
        storage=f"journal:{tmp / f'{name}.journal'}",
        tracking=TrackingConfig(mode="disabled"),
        plotly_js="cdn",
    )


def trial_values(study: optuna.Study) -> list[tuple[int, str, float | None, dict]]:
    return [(t.number, t.state.name, t.value, t.params) for t in study.trials]


def test_same_data_and_configuration_give_the_same_trials_and_the_best_retrains_to_its_value(
    corpus: Path, tmp_path: Path
) -> None:
    first = job.run_job(spec_for(tmp_path, "first"), corpus, tmp_path / "out1")
    second = job.run_job(spec_for(tmp_path, "second"), corpus, tmp_path / "out2")
    runs = [
        job.open_study(spec_for(tmp_path, n), open_storage(spec_for(tmp_path, n).storage)) for n in ("first", "second")
    ]
    assert trial_values(runs[0]) == trial_values(runs[1])
    assert len(counted(runs[0].trials)) == 3
    # run_job retrained the best trial and checked it reproduced; the card's numbers are that model's
    assert first["best_value"] == second["best_value"] == first["dev_metrics"]["macro_f1"]
    assert first["test_metrics"] == second["test_metrics"]
    assert (tmp_path / "out1" / "reference.jsonl").read_bytes() == (tmp_path / "out2" / "reference.jsonl").read_bytes()
    another_seed = job.run_job(spec_for(tmp_path, "seed7", seed=7), corpus, tmp_path / "out3")
    assert another_seed["params"] != first["params"]


def test_a_best_trial_that_does_not_reproduce_fails_loudly(corpus: Path, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "drift")
    study = job.run_trials(spec, corpus, Tracker(spec.tracking, spec.study_id), job.Cancellation())
    best = job.best_trial(study)
    tampered = optuna.trial.create_trial(
        params=best.params, distributions=best.distributions, value=best.value + 0.01, user_attrs=best.user_attrs
    )
    with pytest.raises(job.JobFailed, match="not deterministic"):
        job.retrain(spec, corpus, tampered, job.Cancellation())


def test_failing_trials_are_recorded_with_reasons_and_the_study_goes_on(corpus: Path, tmp_path: Path) -> None:
    # an absurd learning rate diverges (non-finite loss); the sampler also picks sane ones
    space = TINY.model_copy(update={"lr": TINY.lr.model_copy(update={"low": 1e-2, "high": 1e12})})
    spec = spec_for(tmp_path, "diverge").model_copy(
        update={"config": StudyConfig(space=space, n_trials=4, timeout_seconds=None, seed=1)}
    )
    study = job.run_trials(spec, corpus, Tracker(spec.tracking, spec.study_id), job.Cancellation())
    states = [t.state for t in study.trials]
    assert len(counted(study.trials)) == 4
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and TrialState.COMPLETE in states
    assert all(t.user_attrs["fail_reason"].startswith(("NonFiniteLoss", "ValueError")) for t in failed)


def test_a_non_finite_loss_stops_the_trial() -> None:
    monitor = EpochMonitor([], "macro_f1", None)
    monitor.metric_recorded(SimpleNamespace(name=("train", "loss"), value=0.5, global_step=1))
    assert monitor.train_loss == 0.5
    with pytest.raises(NonFiniteLoss, match="nan"):
        monitor.metric_recorded(SimpleNamespace(name=("train", "batch_loss"), value=math.nan, global_step=3))


def test_interrupted_trials_are_retried_and_finished_ones_kept(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "crashed")
    study = open_study(spec, open_storage(spec.storage))
    done = study.ask()
    done.suggest_float("x", 0, 1)
    study.tell(done, 0.5)
    dead = study.ask()  # left RUNNING by a worker that died
    dead.suggest_float("x", 0, 1)
    assert recover_interrupted(study, journal=True) == [dead.number]
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs["interrupted"] and trials[2].system_attrs["fixed_params"] == dead.params
    assert [t.number for t in counted(trials)] == [0]  # the interrupted trial does not use up the budget


def test_a_slot_beyond_the_budget_never_trains(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "budget")
    study = open_study(spec, open_storage(spec.storage))
    for _ in range(3):
        study.tell(study.ask(), 0.1)
    late = study.ask()
    with pytest.raises(BudgetExhausted):
        claim_slot(study, late, n_trials=3)
    assert study.trials[-1].user_attrs["surplus"]


def test_concurrent_workers_draw_different_trials_one_worker_the_same_ones() -> None:
    def draws(sampler_seed: int, numbers: list[int]) -> list[float]:
        study = optuna.create_study(sampler=TrialSeededTPE(sampler_seed, n_startup_trials=10))
        trials = [study.ask() for _ in range(max(numbers) + 1)]
        return [trials[n].suggest_float("x", 0, 1) for n in numbers]

    assert draws(42, [0, 1, 2]) == draws(42, [0, 1, 2])
    assert len(set(draws(42, [0, 1, 2, 3]))) == 4


def test_worker_entry_point_reports_a_bad_corpus(corpus: Path, tmp_path: Path) -> None:
    dev = corpus / "dev.txt"
    dev.write_text(
        "".join(line for line in dev.read_text().splitlines(keepends=True) if "__label__billing" not in line)
    )
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(spec_for(tmp_path, "bad").to_json())
    code = job.main(["--spec", str(spec_path), "--data", str(corpus), "--out", str(tmp_path / "out")])
    outcome = json.loads((tmp_path / "out" / "outcome.json").read_text())
    assert code == job.EXIT_FAILED and outcome["status"] == "failed"
    assert "['billing'] have no dev rows" in outcome["reason"]
