"""What a finished study leaves in its output folder: the model file, reference predictions, the trial table, the
study summary and Optuna's plots (HTML, viewable without any W&B account)."""

from __future__ import annotations

import csv
import html
import json
import logging
import os
import platform
import random
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from services.trainer.modeling import TrainResult, save_model
from services.trainer.space import params_from_trial
from services.trainer.spec import JobSpec
from services.trainer.study import EXCLUDED, counted
from shared.classifier import Prediction, evaluate, read_fasttext, sha256_file
from shared.logs import configure_logging, correlation_id_var
from shared.modelcard import MODEL_FILE, REFERENCE_FILE

log = logging.getLogger(__name__)
PLOTS = {
    "optimization_history": "plot_optimization_history",
    "param_importances": "plot_param_importances",
    "parallel_coordinate": "plot_parallel_coordinate",
    "intermediate_values": "plot_intermediate_values",
}
LIBRARIES = ("torch", "flair", "optuna", "transformers", "numpy", "scikit-learn", "wandb")


def configure_worker_logging(spec: JobSpec) -> None:
    """The worker logs like the service (JSON with the correlation id) to the stderr it shares with it."""
    configure_logging("trainer", os.environ.get("MLOPS_LOG_LEVEL", "INFO"), os.environ.get("MLOPS_LOG_FORMAT", "json"))
    logging.getLogger("optuna").setLevel(logging.WARNING)
    if spec.correlation_id:
        correlation_id_var.set(spec.correlation_id)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def trial_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    done = counted(trials)
    return {
        "completed": sum(t.state == TrialState.COMPLETE for t in done),
        "pruned": sum(t.state == TrialState.PRUNED for t in done),
        "failed": sum(t.state == TrialState.FAIL for t in done),
        "interrupted": sum(bool(t.user_attrs.get("interrupted")) for t in trials),
    }


def trial_rows(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    rows = []
    for t in trials:
        if t.user_attrs.get("surplus"):
            continue
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        rows.append(
            {
                "number": t.number,
                "state": "INTERRUPTED" if t.user_attrs.get("interrupted") else t.state.name,
                "value": t.value,
                "params": t.params,
                "seed": t.user_attrs.get("seed"),
                "best_epoch": t.user_attrs.get("best_epoch"),
                "epochs_run": len(t.intermediate_values),
                "intermediate_values": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                "seconds": round(seconds, 2) if seconds is not None else None,
                "worker": t.user_attrs.get("worker"),
                "fail_reason": t.user_attrs.get("fail_reason"),
                "retry_of": t.user_attrs.get("retry_of"),
                "started_at": t.datetime_start.isoformat() if t.datetime_start else None,
            }
        )
    return rows


def write_trial_table(trials: list[FrozenTrial], folder: Path) -> None:
    rows = trial_rows(trials)
    write_json(folder / "trials.json", rows)
    names = sorted({k for r in rows for k in r["params"]})
    columns = ["number", "state", "value", "seed", "best_epoch", "epochs_run", "seconds", "worker", "fail_reason"]
    with (folder / "trials.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns + [f"param_{n}" for n in names])
        for r in rows:
            writer.writerow([r[c] for c in columns] + [r["params"].get(n) for n in names])


def write_plots(study: optuna.Study, folder: Path, plotly_js: str) -> dict[str, str]:
    """Optuna's plots as HTML; a plot that cannot be drawn yet (e.g. importances of one trial) says why."""
    import optuna.visualization as vis

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    kept = [t for t in study.trials if not any(t.user_attrs.get(n) for n in EXCLUDED)]
    view = optuna.create_study(direction="maximize", study_name=study.study_name)
    view.add_trials(kept)
    for name, function in PLOTS.items():
        path = folder / f"{name}.html"
        try:
            getattr(vis, function)(view).write_html(
                str(path), include_plotlyjs=True if plotly_js == "inline" else "cdn"
            )
        except Exception as exc:  # too few trials for a plot is normal in small studies
            path.write_text(
                f"<html><body><p>{html.escape(name)}: not available: {html.escape(str(exc))}</p></body></html>"
            )
        written[name] = path.name
    return written


def _reference_rows(split: str, rows: list[tuple[str, str]], predictions: list[Prediction]) -> list[str]:
    return [
        json.dumps(
            {"split": split, "text": text, "label": label, "prediction": p.label, "probability": p.probability},
            ensure_ascii=False,
        )
        for (label, text), p in zip(rows, predictions, strict=True)
    ]


def write_reference(model: Any, corpus_dir: Path, out: Path, train_rows: int, seed: int) -> dict[str, Any]:
    """Predictions on every dev and test row and on a fixed sample of train; returns the dev and test metrics."""
    splits = {
        s: read_fasttext((corpus_dir / f"{s}.txt").read_text(encoding="utf-8").splitlines())
        for s in ("train", "dev", "test")
    }
    train = splits["train"]
    if len(train) > train_rows:  # a deterministic sample, in corpus order
        keep = sorted(random.Random(seed).sample(range(len(train)), train_rows))
        splits["train"] = [train[i] for i in keep]
    lines, found = [], {}
    for split in ("dev", "test", "train"):
        if not splits[split]:
            continue
        metrics, predictions = evaluate(model, splits[split])
        found[split] = metrics
        lines += _reference_rows(split, splits[split], predictions)
    (out / REFERENCE_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return found


def write_outputs(
    spec: JobSpec, study: optuna.Study, best: FrozenTrial, result: TrainResult, corpus_dir: Path, out: Path
) -> dict[str, Any]:
    model_path = out / MODEL_FILE
    save_model(result.model, model_path)
    found = write_reference(result.model, corpus_dir, out, spec.reference_train_rows, spec.config.seed)
    trials = study.get_trials(deepcopy=False)
    experiments = out / "experiments"
    write_trial_table(trials, experiments)
    plots = write_plots(study, experiments / "plots", spec.plotly_js)
    return {
        "status": "completed",
        "study_id": spec.study_id,
        "dataset": spec.dataset,
        "version": spec.version,
        "objective": spec.config.objective,
        "best_trial": best.number,
        "best_value": best.value,
        "best_epoch": result.best_epoch,
        "params": params_from_trial(best.params),
        "seed": best.user_attrs.get("seed"),
        "study_seed": spec.config.seed,
        "threads": spec.config.threads,
        "dev_metrics": found["dev"].model_dump(),
        "test_metrics": found["test"].model_dump(),
        "trials": trial_counts(trials),
        "artifact_sha256": sha256_file(model_path),
        "artifact_bytes": model_path.stat().st_size,
        "library_versions": library_versions(),
        "plots": plots,
    }


def study_summary(spec: JobSpec, study: optuna.Study, outcome: dict[str, Any]) -> dict[str, Any]:
    keys = ("best_trial", "best_value", "best_epoch", "params", "seed", "trials", "training_seconds", "job_seconds")
    return {
        "study_id": spec.study_id,
        "dataset": spec.dataset,
        "version": spec.version,
        "config": spec.config.model_dump(mode="json"),
        "storage": spec.storage.split("@")[-1],  # no credentials
        **{k: outcome.get(k) for k in keys},
        "dev_metrics": {k: outcome["dev_metrics"][k] for k in ("accuracy", "macro_f1", "mcc")},
        "test_metrics": {k: outcome["test_metrics"][k] for k in ("accuracy", "macro_f1", "mcc")},
        "library_versions": outcome.get("library_versions"),
        "started_at": study.user_attrs.get("started_at"),
    }
