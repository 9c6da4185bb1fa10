"""`mlops models`, `mlops approve/reject/promote/rollback`, `mlops ledger`: the model registry from the terminal.

Changes need a registry token in MLOPS_TOKEN (role approver for approve/reject, promoter for promote/rollback).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from shared.cli.client import call, console
from shared.settings import ServiceUrls

EnvOpt = Annotated[str, typer.Option("--env", "-e", help="dev, staging or prod")]
ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="Why (kept with the decision)")]


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S") if epoch else ""


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def models(name: Annotated[str | None, typer.Argument(help="A model: its leaderboard and aliases")] = None) -> None:
    """Every model (or one model's leaderboard), and what each environment serves."""
    if name is None:
        table = Table("model", "versions", "latest", "dev", "staging", "prod", "updated")
        for m in call("registry", "GET", "/v1/models")["models"]:
            aliases = m["aliases"]
            serving = [f"v{aliases[e]}" if e in aliases else "-" for e in ("dev", "staging", "prod")]
            table.add_row(
                m["model_name"], str(m["versions"]), f"v{m['latest_version']}", *serving, _when(m["updated_at"])
            )
        console.print(table)
        return
    board = call("registry", "GET", f"/v1/models/{name}/leaderboard")["leaderboard"]
    console.print(leaderboard_table(name, board))
    console.print(f"Dashboard: {ServiceUrls().of('registry')}/ui/models/{name}")


def leaderboard_table(name: str, board: list[dict[str, Any]]) -> Table:
    table = Table(
        "#",
        "version",
        "status",
        "data set",
        "accuracy",
        "macro F1",
        "MCC",
        "slice gap",
        "approvals",
        "serving",
        title=f"{name}: leaderboard (own frozen test split)",
    )
    for r in board:
        approvals = " ".join(f"{env[0].upper()}:{state}" for env, state in r["approvals"].items())
        table.add_row(
            str(r["rank"] or ""),
            f"v{r['version']}",
            r["status"],
            f"{r['dataset']}@{r['dataset_version'][:12]}",
            _num(r["accuracy"]),
            _num(r["macro_f1"]),
            _num(r["mcc"]),
            _num(r["max_slice_gap"]),
            approvals,
            ",".join(r["serving"]),
        )
    return table


def ledger_table(entries: list[dict[str, Any]], title: str = "ledger") -> Table:
    table = Table("when", "model", "env", "action", "from", "to", "who", "why", title=title)
    for e in entries:
        table.add_row(
            _when(e["at"]),
            e["model_name"],
            e["environment"],
            e["action"],
            f"v{e['from_version']}" if e["from_version"] else "-",
            f"v{e['to_version']}",
            e["actor"],
            e["reason"],
        )
    return table


def approve(name: str, version: int, env: EnvOpt, reason: ReasonOpt) -> None:
    """Approve a reviewed version for an environment (role approver)."""
    body = call(
        "registry", "POST", f"/v1/models/{name}/versions/{version}/approve", json={"environment": env, "reason": reason}
    )
    console.print(f"[green]approved[/green] {name} v{version} for {env} by {body['actor']}")


def reject(name: str, version: int, env: EnvOpt, reason: ReasonOpt) -> None:
    """Reject a version for an environment (role approver)."""
    body = call(
        "registry", "POST", f"/v1/models/{name}/versions/{version}/reject", json={"environment": env, "reason": reason}
    )
    console.print(f"[yellow]rejected[/yellow] {name} v{version} for {env} by {body['actor']}")


def promote(
    name: str,
    version: int,
    env: EnvOpt,
    reason: ReasonOpt,
    expect: Annotated[
        int | None, typer.Option(help="Compare-and-set: the version you expect serving (0: none)")
    ] = None,
) -> None:
    """Promote an approved version (copies and verifies the artifact in the environment's bucket)."""
    payload: dict[str, Any] = {"environment": env, "reason": reason}
    if expect is not None:
        payload["expected_version"] = expect
    body = call("registry", "POST", f"/v1/models/{name}/versions/{version}/promote", json=payload)
    if body.get("changed") is False:
        console.print(f"{env} already serves {name} v{version}")
    else:
        console.print(f"[green]promoted[/green] {name} v{version} to {env} (was v{body['from_version']})")


def rollback(name: str, env: EnvOpt, reason: ReasonOpt) -> None:
    """Return an environment to the version it served before (role promoter)."""
    body = call("registry", "POST", f"/v1/models/{name}/aliases/{env}/rollback", json={"reason": reason})
    console.print(f"[yellow]rolled back[/yellow] {name}@{env} from v{body['from_version']} to v{body['to_version']}")


def ledger(
    model: Annotated[str | None, typer.Option(help="Only this model")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment")] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 50,
) -> None:
    """Every alias change: who moved which environment from which version to which, when and why."""
    params = {k: v for k, v in {"model": model, "environment": env, "limit": limit}.items() if v is not None}
    console.print(ledger_table(call("registry", "GET", "/v1/ledger", params=params)))


def register(app: typer.Typer) -> None:
    for command in (models, approve, reject, promote, rollback, ledger):
        app.command()(command)
