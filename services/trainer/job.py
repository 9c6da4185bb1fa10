"""A worker's whole job, on local files only: run (or join, or resume) the study, retrain the best trial, evaluate it,
and write everything the service publishes into an output folder.

    python -m services.trainer.job --spec spec.json --data CORPUS_DIR --out OUT_DIR

The trainer service runs this in a child process (never in its event loop); the SageMaker entry point runs the same
function inside the training container; extra workers join a shared study with `--no-retrain`. Outputs:
  model.pt          the one Flair model file (best parameters, retrained deterministically)
  outcome.json      params, best value, dev/test metrics, seeds, trial counts, timings, library versions
  reference.jsonl   per-row predictions on dev, test and a bounded sample of train (the monitor's reference)
  experiments/      trials.csv, trials.json, summary.json, plots/*.html
A failure writes outcome.json with `status: failed` and the reason, and exits 2; a cancellation (SIGTERM) exits 3.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import optuna

from services.trainer import corpus as corpus_checks
from services.trainer import results
from services.trainer.modeling import TrainResult, embeddings_name, train_model
from services.trainer.space import params_from_trial
from services.trainer.spec import JobSpec, trial_seed
from services.trainer.study import (
    WORKER,
    budget_callback,
    claim_slot,
    counted,
    open_storage,
    open_study,
    recover_interrupted,
    remaining_seconds,
)
from services.trainer.tracking import Tracker

log = logging.getLogger("services.trainer.job")
EXIT_FAILED, EXIT_CANCELLED = 2, 3


class JobFailed(RuntimeError):
    """The study cannot produce a model (bad input, every trial failed, the best trial does not reproduce)."""


class StudyCancelled(KeyboardInterrupt):
    """SIGTERM: stop. A KeyboardInterrupt, so Optuna fails the running trial and re-raises it."""


class Cancellation:
    """SIGTERM sets a flag that the next epoch end acts on (never interrupting a storage write halfway)."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        def handler(_signum: int, _frame: Any) -> None:
            self.requested = True

        signal.signal(signal.SIGTERM, handler)

    def check(self) -> None:
        if self.requested:  # Flair swallows KeyboardInterrupt inside train(): raise it again outside
            raise StudyCancelled("the study was cancelled")


def make_objective(spec: JobSpec, corpus_dir: Path, tracker: Tracker, cancel: Cancellation) -> Any:
    config = spec.config

    def objective(trial: optuna.Trial) -> float:
        claim_slot(trial.study, trial, config.n_trials)
        params = config.space.suggest(trial)
        seed = trial_seed(config.seed, trial.number)
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("worker", WORKER)
        tracker.start(f"trial-{trial.number}", "trial", {**params, "trial": trial.number, "seed": seed})
        log.info("trial %d started", trial.number, extra={"trial": trial.number, "params": params})

        def on_epoch(epoch: int, metrics: Any, loss: float) -> None:
            value = float(getattr(metrics, config.objective))
            tracker.log(
                {
                    "epoch": epoch,
                    "train/loss": loss,
                    f"dev/{config.objective}": value,
                    "dev/accuracy": metrics.accuracy,
                    "dev/macro_f1": metrics.macro_f1,
                },
                step=epoch,
            )
            trial.report(value, epoch)
            cancel.check()
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} ({config.objective} {value:.4f})")

        started = time.monotonic()
        try:
            result = train_model(
                corpus_dir, params, config.objective, seed=seed, threads=config.threads, on_epoch=on_epoch
            )
            cancel.check()
        except optuna.TrialPruned:
            trial.set_user_attr("seconds", round(time.monotonic() - started, 2))
            tracker.finish({"state": "pruned"})
            raise
        except Exception as exc:
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}"[:500])
            trial.set_user_attr("seconds", round(time.monotonic() - started, 2))
            tracker.finish({"state": "failed", "reason": str(exc)[:200]}, exit_code=1)
            raise
        trial.set_user_attr("seconds", round(time.monotonic() - started, 2))
        trial.set_user_attr("best_epoch", result.best_epoch)
        tracker.finish({"state": "complete", f"best_dev_{config.objective}": result.best_value})
        if not math.isfinite(result.best_value):
            raise ValueError(f"objective is {result.best_value}")
        return result.best_value

    return objective


def progress_callback(spec: JobSpec) -> Any:
    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = counted(study.get_trials(deepcopy=False))
        best = max(
            (t.value for t in done if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None), default=None
        )
        log.info(
            "trial %d %s (%d/%d done, best %s)",
            trial.number,
            trial.state.name.lower(),
            len(done),
            spec.config.n_trials,
            f"{best:.4f}" if best is not None else "none",
            extra={
                "trial": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "done": len(done),
                "best": best,
                "reason": trial.user_attrs.get("fail_reason"),
            },
        )

    return report


def run_trials(spec: JobSpec, corpus_dir: Path, tracker: Tracker, cancel: Cancellation) -> optuna.Study:
    storage = open_storage(spec.storage, spec.heartbeat_seconds)
    study = open_study(spec, storage)
    recover_interrupted(study, journal=spec.storage.startswith("journal:"))
    left = spec.config.n_trials - len(counted(study.trials))
    timeout = remaining_seconds(study, spec.config)
    log.info(
        "study %s: %d trials left, %s s of budget",
        spec.study_id,
        max(left, 0),
        timeout,
        extra={"study_id": spec.study_id, "worker": WORKER},
    )
    if left > 0 and (timeout is None or timeout > 0):
        study.optimize(
            make_objective(spec, corpus_dir, tracker, cancel),
            timeout=timeout,
            callbacks=[budget_callback(spec.config.n_trials), progress_callback(spec)],
            catch=(Exception,),
            gc_after_trial=True,
        )
    return study


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        reasons = sorted({str(t.user_attrs.get("fail_reason", t.state.name)) for t in study.trials})
        raise JobFailed(f"no trial completed ({len(study.trials)} ran): {'; '.join(reasons)[:800]}")
    return max(complete, key=lambda t: (t.value, -t.number))


def retrain(
    spec: JobSpec, corpus_dir: Path, best: optuna.trial.FrozenTrial, cancel: Cancellation
) -> tuple[TrainResult, float]:
    """Train the best trial's parameters again with its seed; it must give the best trial's value exactly."""
    params = params_from_trial(best.params)
    seed = int(best.user_attrs.get("seed", trial_seed(spec.config.seed, best.number)))
    started = time.monotonic()
    result = train_model(
        corpus_dir,
        params,
        spec.config.objective,
        seed=seed,
        threads=spec.config.threads,
        on_epoch=lambda *_: cancel.check(),
    )
    cancel.check()
    seconds = time.monotonic() - started
    assert best.value is not None
    if abs(result.best_value - best.value) > spec.retrain_tolerance:
        raise JobFailed(
            f"the retrained best parameters (trial {best.number}, seed {seed}) gave {spec.config.objective} "
            f"{result.best_value!r}, the trial gave {best.value!r}: training is not deterministic here"
        )
    log.info("retrained trial %d: %s %.6f reproduced", best.number, spec.config.objective, result.best_value)
    return result, seconds


def run_job(spec: JobSpec, corpus_dir: Path, out_dir: Path, cancel: Cancellation | None = None) -> dict[str, Any]:
    """Run the job; returns the outcome written to `out_dir/outcome.json` (raises JobFailed/StudyCancelled)."""
    cancel = cancel or Cancellation()
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus_checks.check(corpus_dir)
    tracker = Tracker(spec.tracking, spec.study_id)
    started = time.monotonic()
    study = run_trials(spec, corpus_dir, tracker, cancel)
    if not spec.retrain:
        return {"status": "joined", "study_id": spec.study_id}
    best = best_trial(study)
    result, train_seconds = retrain(spec, corpus_dir, best, cancel)
    outcome = results.write_outputs(spec, study, best, result, corpus_dir, out_dir)
    outcome.update(
        embeddings=embeddings_name(params_from_trial(best.params)),
        training_seconds=round(train_seconds, 2),
        job_seconds=round(time.monotonic() - started, 2),
        wandb_dirs=tracker.run_dirs,
    )
    summarise(tracker, spec, outcome)
    results.write_json(out_dir / "outcome.json", outcome)
    results.write_json(out_dir / "experiments" / "summary.json", results.study_summary(spec, study, outcome))
    return outcome


def summarise(tracker: Tracker, spec: JobSpec, outcome: dict[str, Any]) -> None:
    tracker.start("study-summary", "study", {"study_id": spec.study_id, **spec.config.model_dump(mode="json")})
    tracker.finish(
        {
            "best_value": outcome["best_value"],
            "best_trial": outcome["best_trial"],
            "params": outcome["params"],
            **{f"test/{k}": outcome["test_metrics"][k] for k in ("accuracy", "macro_f1", "mcc")},
            **{f"trials/{k}": v for k, v in outcome["trials"].items()},
        }
    )
    outcome["wandb_dirs"] = tracker.run_dirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.trainer.job")
    parser.add_argument("--spec", required=True, help="JobSpec JSON file")
    parser.add_argument("--data", required=True, help="folder with train.txt, dev.txt, test.txt")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--no-retrain", action="store_true", help="only run trials (join a shared study)")
    parser.add_argument("--wait-for", default=None, help="start only once this file exists (start a fleet together)")
    args = parser.parse_args(argv)
    spec = JobSpec.from_json(Path(args.spec).read_text())
    if args.no_retrain:
        spec = spec.model_copy(update={"retrain": False})
    results.configure_worker_logging(spec)
    cancel = Cancellation()
    cancel.install()
    out = Path(args.out)
    while args.wait_for and not Path(args.wait_for).exists():
        time.sleep(0.05)
    try:
        run_job(spec, Path(args.data), out, cancel)
    except StudyCancelled:
        log.warning("study %s cancelled", spec.study_id)
        results.write_json(out / "outcome.json", {"status": "cancelled", "reason": "cancelled"})
        return EXIT_CANCELLED
    except (JobFailed, corpus_checks.BadCorpus) as exc:
        log.error("study %s failed: %s", spec.study_id, exc)
        results.write_json(out / "outcome.json", {"status": "failed", "reason": str(exc)})
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
