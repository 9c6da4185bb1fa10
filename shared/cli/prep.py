"""`mlops prep`: prepare a raw object on demand (the prep service's `POST /v1/jobs`) and look at preparations."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from shared.cli.client import call, console

prep_app = typer.Typer(help="Preparations of raw data files into corpora (the prep service).")
_FINAL = ("prepared", "rejected", "skipped", "failed")
_STYLE = {"prepared": "green", "rejected": "red", "failed": "red", "skipped": "dim", "running": "cyan"}


@prep_app.command("run")
def run(
    uri: Annotated[str, typer.Argument(help="s3://<bucket>/raw/<dataset>/<file>")],
    version_id: Annotated[str | None, typer.Option(help="A specific object version (default: the latest)")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the outcome")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait")] = 600,
) -> None:
    """Prepare a raw object now (an object already prepared is not prepared again)."""
    job = call("prep", "POST", "/v1/jobs", json={"uri": uri, "version_id": version_id})
    console.print(f"job [bold]{job['id']}[/bold]: {job['status']}")
    deadline = time.monotonic() + timeout
    while wait and job["status"] not in _FINAL and time.monotonic() < deadline:
        time.sleep(1)
        job = call("prep", "GET", f"/v1/jobs/{job['id']}")
    _show(job)
    if job["status"] in ("rejected", "failed"):
        raise typer.Exit(1)


@prep_app.command("job")
def show(job_id: Annotated[str, typer.Argument(help="The job id")]) -> None:
    """One preparation and its outcome."""
    _show(call("prep", "GET", f"/v1/jobs/{job_id}"))


@prep_app.command("jobs")
def recent(
    dataset: Annotated[str | None, typer.Option(help="Only this data set")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 30,
) -> None:
    """Recent preparations, newest first."""
    params: dict[str, Any] = {"limit": limit, **({"dataset": dataset} if dataset else {})}
    table = Table("updated", "job", "status", "data set", "version", "source", "reason")
    for job in call("prep", "GET", "/v1/jobs", params=params):
        table.add_row(
            datetime.fromtimestamp(job["updated_at"]).strftime("%m-%d %H:%M:%S"),
            job["id"][:12],
            _styled(job["status"]),
            job["dataset"] or "",
            job["version"] or "",
            job["source_uri"],
            job["reason"] or "",
        )
    console.print(table)


def _styled(status: str) -> str:
    style = _STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def _show(job: dict[str, Any]) -> None:
    console.print(f"{_styled(job['status'])}  {job['source_uri']}")
    if job.get("reason"):
        console.print(f"reason: {job['reason']}")
    detail = job.get("detail") or {}
    for line in detail.get("details", []):
        console.print(f"  - {line}")
    if job["status"] == "prepared":
        console.print(f"version {job['version']}  manifest {job['manifest_uri']}")
        table = Table("split", "rows", "per label")
        for name, split in detail.get("splits", {}).items():
            table.add_row(name, str(split["total"]), ", ".join(f"{k}: {v}" for k, v in split["per_label"].items()))
        console.print(table)
        console.print(f"rows in {detail.get('rows_in')}, dropped {detail.get('rows_dropped') or 'none'}")


def register(app: typer.Typer) -> None:
    app.add_typer(prep_app, name="prep")
