"""`mlops status`: which services answer, and how healthy they are."""

from __future__ import annotations

import httpx
import typer
from rich.table import Table

from shared.cli.client import console
from shared.settings import SERVICE_PORTS, ServiceUrls


def status() -> None:
    """Health and readiness of every service."""
    urls = ServiceUrls()
    table = Table("service", "url", "health", "ready")
    for name in SERVICE_PORTS:
        base = urls.of(name)
        health = ready = "[red]down[/red]"
        try:
            health = (
                "ok" if httpx.get(f"{base}/healthz", timeout=2).status_code == 200 else "[yellow]unhealthy[/yellow]"
            )
            ready = "yes" if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 else "[yellow]no[/yellow]"
        except httpx.HTTPError:
            pass
        table.add_row(name, base, health, ready)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
