"""`mlops`: the platform's command line for people (typer + rich).

Each area of the platform adds its commands in its own module (listed in COMMAND_MODULES), so the CLI grows with
the services without one long file.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="Text-classification MLOps platform: data, training, models, serving, monitoring.", no_args_is_help=True
)

COMMAND_MODULES = (
    "shared.cli.stack",
    "shared.cli.alerts",
    "shared.cli.datasets",
    "shared.cli.prep",
    "shared.cli.registry",
    "shared.cli.monitoring",
    "shared.cli.training",
    "shared.cli.serving",
)

for module in COMMAND_MODULES:
    importlib.import_module(module).register(app)


if __name__ == "__main__":
    app()
