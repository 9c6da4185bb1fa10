"""`mlops train`, `mlops studies`: start a study on a prepared data set, and follow studies."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from shared.cli.client import call, console

FINAL = ("completed", "failed", "cancelled")


def _num(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def _eta(progress: dict[str, Any]) -> str:
    eta = progress.get("eta_seconds")
    return f"{eta / 60:.1f} min" if isinstance(eta, int | float) else "-"


def show_study(study: dict[str, Any]) -> None:
    progress, outcome = study.get("progress") or {}, study.get("outcome") or {}
    table = Table(show_header=False, box=None)
    rows = [
        ("study", study["id"]),
        ("data set", f"{study['dataset']} / {study['version']}"),
        ("state", study["state"] + (f" ({study['reason']})" if study.get("reason") else "")),
        (
            "trials",
            f"{progress.get('trials_done', 0)} of {study['n_trials']} done, "
            f"{progress.get('pruned', 0)} pruned, {progress.get('failed', 0)} failed",
        ),
        ("best dev value", f"{_num(progress.get('best_value'))} (trial {progress.get('best_trial', '-')})"),
        ("eta", _eta(progress) if study["state"] not in FINAL else "-"),
    ]
    if outcome:
        rows += [
            ("model", f"{outcome['model_name']} candidate {outcome['candidate_id']}"),
            ("test", "  ".join(f"{k} {_num(v)}" for k, v in outcome.get("test", {}).items())),
            ("artifact", outcome.get("artifact", "")),
            ("experiments", outcome.get("experiments_prefix", "")),
        ]
    for label, value in rows:
        table.add_row(f"[bold]{label}[/bold]", str(value))
    console.print(table)


def train(
    dataset: Annotated[str, typer.Argument(help="A prepared data set")],
    version: Annotated[str | None, typer.Option("--version", help="Default: the latest prepared version")] = None,
    trials: Annotated[int | None, typer.Option("--trials", help="Number of trials (default: the trainer's)")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Time budget of the trials in seconds")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the study until it ends")] = False,
) -> None:
    """Start an Optuna study on a prepared data set (the same study again just shows it)."""
    body: dict[str, Any] = {"dataset": dataset, "version": version, "n_trials": trials, "timeout_seconds": timeout}
    study = call("trainer", "POST", "/v1/studies", json={k: v for k, v in body.items() if v is not None})
    console.print(f"study [bold]{study['id']}[/bold]: {study['state']}  (follow: mlops studies {study['id']})")
    while wait and study["state"] not in FINAL:
        time.sleep(5)
        study = call("trainer", "GET", f"/v1/studies/{study['id']}")
        p = study.get("progress") or {}
        console.print(
            f"  {study['state']}: {p.get('trials_done', 0)}/{study['n_trials']} trials, "
            f"best {_num(p.get('best_value'))}, eta {_eta(p)}"
        )
    if wait:
        show_study(study)


def studies(
    study_id: Annotated[str | None, typer.Argument(help="A study: its state, progress and model")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Only this data set")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw answer")] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancel the study")] = False,
) -> None:
    """Studies, newest first; with an id, one study (or `--cancel` it)."""
    if study_id and cancel:
        answer = call("trainer", "DELETE", f"/v1/studies/{study_id}")
        console.print(f"study {study_id}: {answer['state']}")
        return
    if study_id:
        study = call("trainer", "GET", f"/v1/studies/{study_id}")
        console.print_json(data=study) if as_json else show_study(study)
        return
    rows = call("trainer", "GET", "/v1/studies", params={"dataset": dataset} if dataset else None)
    if as_json:
        console.print_json(data=rows)
        return
    table = Table("study", "data set", "version", "state", "trials", "trigger", "best")
    for s in rows:
        best = (s.get("outcome") or {}).get("best_value")
        table.add_row(s["id"], s["dataset"], s["version"], s["state"], str(s["n_trials"]), s["trigger"], _num(best))
    console.print(table if rows else "No studies yet: `mlops train DATASET`.")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("studies")(studies)
