"""`make demo`: walk a generated data set through the platform on the embedded stack and show what happened."""

from __future__ import annotations

import importlib
import os
import sys

from shared.demo.context import DemoContext
from shared.demo.stages import STAGES
from shared.devstack import LOCAL_AWS_ENV, MOTO_PORT


def _embedded_aws_env() -> None:
    """Stages read S3 (captured traffic, reports) from the embedded stack's emulator, as the services do."""
    os.environ.setdefault("AWS_ENDPOINT_URL", f"http://127.0.0.1:{MOTO_PORT}")
    for key, value in LOCAL_AWS_ENV.items():
        os.environ.setdefault(key, value)


def main() -> int:
    _embedded_aws_env()
    ctx = DemoContext()
    for name in STAGES:
        try:
            importlib.import_module(name).run(ctx)
        except Exception as exc:  # show the reason, keep the stack up for inspection
            ctx.console.print(f"[red]demo stage {name} failed: {exc}[/red]")
            ctx.console.print("Logs are in .run/logs/; `make down` stops the stack.")
            return 1
    ctx.step("Done")
    ctx.say(
        "The stack is still running: explore the APIs (`/docs` on each port) or `mlops status`; `make down` stops it."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
