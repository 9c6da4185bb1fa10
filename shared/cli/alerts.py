"""`mlops alerts`: what the notifier delivered (its delivery log), and a wiring test per channel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from shared.cli.client import call, console

alerts_app = typer.Typer(help="Alerts sent to MS Teams and email (the notifier's delivery log).")
_STATUS_STYLE = {"sent": "green", "failed": "red", "collapsed": "yellow", "skipped": "dim", "sending": "cyan"}


@alerts_app.callback(invoke_without_command=True)
def recent(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="sent, failed, collapsed, skipped or sending")] = None,
    channel: Annotated[str | None, typer.Option(help="teams or email")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="e.g. drift.detected")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 30,
) -> None:
    """Recent deliveries, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    params = {k: v for k, v in {"status": status, "channel": channel, "event_type": event_type}.items() if v}
    answer = call("notifier", "GET", "/v1/deliveries", params={**params, "limit": limit})
    table = Table("when", "channel", "status", "severity", "type", "title", "tries", "to", "reason")
    for row in answer["deliveries"]:
        style = _STATUS_STYLE.get(row["status"], "")
        when = datetime.fromisoformat(row["created_at"]).astimezone().strftime("%m-%d %H:%M:%S")
        table.add_row(
            when,
            row["channel"],
            f"[{style}]{row['status']}[/{style}]" if style else row["status"],
            row["severity"],
            row["event_type"],
            row["title"],
            str(row["attempts"]),
            row["target"],
            row["reason"] or "",
        )
    console.print(table)


@alerts_app.command("test")
def send_test(
    channel: Annotated[str, typer.Argument(help="teams or email")],
    to: Annotated[list[str] | None, typer.Option("--to", help="Email recipients (default: the notifier's)")] = None,
    requested_by: Annotated[str, typer.Option(help="Shown in the test message")] = "mlops CLI",
) -> None:
    """Send a test notification to one channel, to check its wiring."""
    body = {"channel": channel, "requested_by": requested_by, "email_to": to or []}
    answer = call("notifier", "POST", "/v1/test", json=body)
    delivery = answer["delivery"]
    console.print(f"[green]sent[/green] to {channel} ({delivery['target']}) after {delivery['attempts']} attempt(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
