"""HTTP access to the services for the `mlops` command line."""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer
from rich.console import Console

from shared.settings import ServiceUrls

console = Console()


def api(service: str, timeout: float = 30.0) -> httpx.Client:
    headers = {}
    if token := os.environ.get("MLOPS_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=ServiceUrls().of(service), timeout=timeout, headers=headers)


def answer(response: httpx.Response) -> Any:
    """The JSON body of a successful answer; a readable error and exit code 1 otherwise."""
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        console.print(f"[red]{response.request.method} {response.request.url} -> {response.status_code}[/red] {detail}")
        raise typer.Exit(1)
    return response.json() if response.content else None


def call(service: str, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with api(service) as client:
            return answer(client.request(method, path, **kwargs))
    except httpx.ConnectError:
        console.print(f"[red]{service} is not answering at {ServiceUrls().of(service)}[/red] (is `make up` running?)")
        raise typer.Exit(2) from None
