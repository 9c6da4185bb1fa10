"""What demo stages share: where the services answer, what earlier stages found, and how to print."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from rich.console import Console

from shared.settings import ServiceUrls

T = TypeVar("T")


@dataclass
class DemoContext:
    urls: ServiceUrls = field(default_factory=ServiceUrls)
    console: Console = field(default_factory=Console)
    state: dict[str, Any] = field(default_factory=dict)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    def url(self, service: str, path: str) -> str:
        return f"{self.urls.of(service)}{path}"

    def step(self, title: str) -> None:
        self.console.rule(f"[bold cyan]{title}")

    def say(self, message: str) -> None:
        self.console.print(message)

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float = 300, interval: float = 1.0) -> T:
        """Poll `probe` until it returns a value, showing a spinner; fail the demo clearly on timeout."""
        deadline = time.monotonic() + timeout
        with self.console.status(f"waiting for {what} ..."):
            while time.monotonic() < deadline:
                value = probe()
                if value is not None:
                    return value
                time.sleep(interval)
        raise TimeoutError(f"{what} did not happen within {timeout:.0f}s (see .run/logs/)")
