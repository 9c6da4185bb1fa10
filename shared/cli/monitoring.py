"""`mlops drift`: run a drift check now, list runs with their verdicts and report links, show one run's checks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from shared.cli.client import call, console

drift_app = typer.Typer(help="Drift checks of the served models (the monitor service).", no_args_is_help=True)
_VERDICT_STYLE = {"drift": "red", "no_drift": "green", "not_enough_data": "yellow", "error": "red"}
EnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", help="dev, staging or prod (default: every one with a model)")
]


def _verdict(run: dict[str, Any]) -> str:
    verdict = run.get("verdict") or run["status"]
    style = _VERDICT_STYLE.get(verdict, "")
    level = f" ({run['level']}, {run['consecutive']}x)" if run.get("level") else ""
    return f"[{style}]{verdict}[/{style}]{level}" if style else verdict + level


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).astimezone().strftime("%m-%d %H:%M") if value else ""


def _runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table("run", "env", "model", "window", "records", "verdict", "drifted checks", "report")
    for run in runs:
        drifted = [name for name, check in run["checks"].items() if check["status"] == "drift"]
        model = f"{run['model_name']} v{run['version']}" if run.get("model_name") else ""
        window = f"{_when(run['window_start'])} - {_when(run['window_end'])}"
        records = str(run["counts"].get("records", "")) if run["counts"] else ""
        table.add_row(
            run["id"], run["environment"], model, window, records, _verdict(run), ", ".join(drifted), run["report_url"]
        )
    return table


def _show_run(run: dict[str, Any]) -> None:
    console.print(f"[bold]{run['id']}[/bold] {run['environment']}: {_verdict(run)}  {run.get('reason') or ''}")
    table = Table("check", "status", "score", "threshold", "method", "note")
    for name, check in run["checks"].items():
        style = _VERDICT_STYLE.get(check["status"], "")
        status = f"[{style}]{check['status']}[/{style}]" if style else check["status"]
        score = check.get("score")
        table.add_row(
            name,
            status,
            "" if score is None else f"{score:.3f}",
            str(check.get("threshold", "")),
            check.get("method", ""),
            check.get("reason", ""),
        )
    if run["checks"]:
        console.print(table)
    counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items())
    if counts:
        console.print(f"counts: {counts}")
    console.print(f"report: {run['report_url']}")


@drift_app.command("run")
def run_now(
    env: EnvOpt = None,
    since: Annotated[datetime | None, typer.Option(help="Window start (default: end of the last decisive run)")] = None,
    until: Annotated[datetime | None, typer.Option(help="Window end (default: now)")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the verdicts")] = True,
) -> None:
    """Run a drift check now (the same check the schedule runs)."""
    body: dict[str, Any] = {"environment": env, "wait": wait}
    if since:
        body["window_start"] = since.isoformat()
    if until:
        body["window_end"] = until.isoformat()
    answer = call("monitor", "POST", "/v1/runs", json=body, timeout=600)
    if not wait:
        console.print(f"started; follow it with `mlops drift runs` ({answer['runs_url']})")
        return
    if not answer["runs"]:
        console.print("No environment has a model to check yet (no model.promoted seen by the monitor).")
    for run in answer["runs"]:
        _show_run(run)


@drift_app.command("runs")
def list_runs(
    env: EnvOpt = None,
    verdict: Annotated[str | None, typer.Option(help="drift, no_drift, not_enough_data or error")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """Recent drift runs, newest first, with verdicts and report links."""
    params = {k: v for k, v in {"environment": env, "verdict": verdict, "limit": limit}.items() if v}
    runs = call("monitor", "GET", "/v1/runs", params=params)
    console.print(_runs_table(runs) if runs else "No drift runs yet: `mlops drift run`.")


@drift_app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="A run id from `mlops drift runs`")]) -> None:
    """One run: every check with its score, threshold and note."""
    _show_run(call("monitor", "GET", f"/v1/runs/{run_id}"))


def register(app: typer.Typer) -> None:
    app.add_typer(drift_app, name="drift")
