"""Demo, last stage: the alerts of the whole run, as they arrived at the local Teams webhook and SMTP inbox."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

import httpx
from rich.table import Table

from shared.demo.context import DemoContext

# The dev stack's local Teams/SMTP stand-ins (services/notifier/devreceivers.py).
RECEIVERS_URL = os.environ.get("MLOPS_DEVRECEIVERS_URL", "http://127.0.0.1:8026")
SETTLE_SECONDS = 3.0  # the log must stay unchanged this long (late events of the last stage still arriving)


def _deliveries(ctx: DemoContext) -> list[dict[str, Any]]:
    answer = ctx.http.get(ctx.url("notifier", "/v1/deliveries"), params={"limit": 500})
    answer.raise_for_status()
    return list(answer.json()["deliveries"])


def _settled(ctx: DemoContext, timeout: float = 60) -> list[dict[str, Any]]:
    """Wait until no delivery is in flight and the log stopped growing."""
    deadline = time.monotonic() + timeout
    last: tuple[int, int] | None = None
    stable_since = time.monotonic()
    while True:
        rows = _deliveries(ctx)
        shape = (len(rows), sum(r["status"] == "sending" for r in rows))
        if shape != last:
            last, stable_since = shape, time.monotonic()
        if (shape[1] == 0 and time.monotonic() - stable_since >= SETTLE_SECONDS) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def run(ctx: DemoContext) -> None:
    ctx.step("Alerts: what reached MS Teams and email during the run")
    try:
        rows = _settled(ctx)
    except httpx.HTTPError as exc:
        ctx.say(f"[yellow]The notifier is not answering ({exc}); no alerts to show.[/yellow]")
        return
    try:
        received = ctx.http.get(f"{RECEIVERS_URL}/received").json()
    except httpx.HTTPError:
        ctx.say(
            "[yellow]The local receivers are not running (real Teams/SMTP configured?); delivery log only.[/yellow]"
        )
        received = []
    table = Table("time", "channel", "severity", "title", title=f"{len(received)} alerts at the local receivers")
    for item in received:
        moment = datetime.fromtimestamp(item["received_at"]).strftime("%H:%M:%S")
        title = str(item.get("title", ""))
        if item["channel"] == "email" and title.startswith("["):  # "[HIGH] ..." subject: the column shows it
            title = title.split("] ", 1)[-1]
        table.add_row(moment, item["channel"], item.get("severity", ""), title)
    ctx.console.print(table)
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    summary = ", ".join(f"{count} {status}" for status, count in sorted(by_status.items())) or "no deliveries"
    ctx.say(f"Notifier delivery log: {summary}  ({ctx.url('notifier', '/v1/deliveries')}, or `mlops alerts`)")
    ctx.say(f"Cards and emails as received: {RECEIVERS_URL}/received")
