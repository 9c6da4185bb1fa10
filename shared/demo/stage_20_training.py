"""Demo, training stage: the prepared data set's manifest started the trainer's default study; follow it to the
best model and show where its experiments are.

The dev stack runs the trainer with a laptop-sized budget (TRAINER_N_TRIALS, TRAINER_TIMEOUT_SECONDS set by
`make up` unless you set them; the production default is 30 trials in 20 minutes), so the study ends in a few minutes.
Reads `dataset`, `dataset_version` from `ctx.state`; leaves `study_id`, `candidate_id`, `model_name`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich.table import Table

from shared.demo.context import DemoContext

FINAL = ("completed", "failed", "cancelled")


def _study(ctx: DemoContext) -> dict[str, Any] | None:
    answer = ctx.http.get(ctx.url("trainer", "/v1/studies"), params={"dataset": ctx.state["dataset"]})
    if answer.status_code != 200:
        return None
    ours = [s for s in answer.json() if s["version"] == ctx.state["dataset_version"]]
    return ours[-1] if ours else None  # the oldest: the one the manifest started


def _follow(ctx: DemoContext, study_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline, last = time.monotonic() + timeout, None
    with ctx.console.status("training ...") as status:
        while time.monotonic() < deadline:
            study = ctx.http.get(ctx.url("trainer", f"/v1/studies/{study_id}")).json()
            p = study.get("progress") or {}
            line = (
                f"{study['state']}: {p.get('trials_done', 0)}/{study['n_trials']} trials "
                f"({p.get('pruned', 0)} pruned), best dev macro-F1 {_num(p.get('best_value'))}, "
                f"ETA {_eta(p)}"
            )
            status.update(line)
            if line != last and p.get("trials_done") is not None:
                ctx.say(f"  {line}")
                last = line
            if study["state"] in FINAL:
                return dict(study)
            time.sleep(2)
    raise TimeoutError(f"study {study_id} did not finish within {timeout:.0f}s (see .run/logs/trainer.log)")


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def _eta(progress: dict[str, Any]) -> str:
    eta = progress.get("eta_seconds")
    return f"{eta:.0f}s" if isinstance(eta, int | float) else "-"


def _show_model(ctx: DemoContext, outcome: dict[str, Any]) -> None:
    table = Table("split", "accuracy", "macro F1", "MCC", title=f"{outcome['model_name']} {outcome['candidate_id']}")
    for split in ("dev", "test"):
        m = outcome[split]
        table.add_row(split, _num(m["accuracy"]), _num(m["macro_f1"]), _num(m["mcc"]))
    ctx.console.print(table)
    params = ", ".join(f"{k}={round(v, 5) if isinstance(v, float) else v}" for k, v in outcome["params"].items())
    ctx.say(f"best trial {outcome['best_trial']} ({params}), retrained deterministically to the same dev value")


def run(ctx: DemoContext) -> None:
    ctx.step("Training: the prepared data set started an Optuna study of Flair classifiers")
    ctx.say(
        "The new manifest under processed/ reached the trainer's queue (S3 notification); it runs the default "
        "study: seeded TPE sampler, median pruning per epoch, each trial a W&B run."
    )
    study = ctx.wait_for("the trainer to start the study", lambda: _study(ctx), timeout=120)
    ctx.say(f"study [bold]{study['id']}[/bold]: {study['n_trials']} trials, budget {study['timeout_seconds']}s")
    study = _follow(ctx, study["id"])
    if study["state"] != "completed":
        raise RuntimeError(f"the study ended {study['state']}: {study.get('reason')}")
    outcome = study["outcome"]
    _show_model(ctx, outcome)
    ctx.say(
        f"model file and card: {outcome['artifact'].rsplit('/', 1)[0]}/ (model.pt, model_card.json, reference.jsonl)"
    )
    bucket = outcome["artifact"][5:].split("/", 1)[0]
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    ctx.say(
        f"trial table, summary and plots: s3://{bucket}/{outcome['experiments_prefix']} — e.g. "
        f"{endpoint}/{bucket}/{outcome['experiments_prefix']}plots/optimization_history.html"
    )
    runs = outcome.get("wandb_dirs") or []
    where = os.path.dirname(runs[0]) if runs else ".run/data/trainer/wandb/wandb"
    ctx.say(f"W&B runs (offline without WANDB_API_KEY; `wandb sync {where}/offline-run-*` uploads them): {where}")
    ctx.say(f"Follow any study: `mlops studies {study['id']}`; start another: `mlops train {ctx.state['dataset']}`")
    ctx.state.update(study_id=study["id"], candidate_id=outcome["candidate_id"], model_name=outcome["model_name"])
