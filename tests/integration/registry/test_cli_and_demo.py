"""`mlops models/approve/promote/rollback/ledger` and the demo's registry stage against the real registry app."""

from __future__ import annotations

import json

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from shared.cli.main import app as cli
from shared.demo.context import DemoContext
from shared.devstack import DEMO_TOKENS
from shared.settings import ServiceUrls
from tests.integration.prep.conftest import Capture
from tests.integration.registry.conftest import ANA, CARL, StartRegistry, World, api, clone, send

pytestmark = pytest.mark.integration


def test_the_cli_lists_decides_promotes_and_shows_the_ledger(
    world_env: World, start_registry: StartRegistry, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_env
    tc = clone(world, world.candidates[0], "cli-model")
    runner = CliRunner()
    with start_registry() as base:
        monkeypatch.setenv("MLOPS_REGISTRY_URL", base)
        send(world, tc)
        capture.wait_for(lambda e: e.type == "model.promoted" and e.payload.model_name == "cli-model", timeout=120)
        listing = runner.invoke(cli, ["models"])
        board = runner.invoke(cli, ["models", "cli-model"])
        monkeypatch.setenv("MLOPS_TOKEN", CARL)
        refused = runner.invoke(cli, ["approve", "cli-model", "1", "--env", "staging", "--reason", "not mine"])
        monkeypatch.setenv("MLOPS_TOKEN", ANA)
        approved = runner.invoke(cli, ["approve", "cli-model", "1", "--env", "staging", "--reason", "fine"])
        monkeypatch.setenv("MLOPS_TOKEN", CARL)
        promoted = runner.invoke(
            cli, ["promote", "cli-model", "1", "--env", "staging", "--reason", "release", "--expect", "0"]
        )
        no_rollback = runner.invoke(cli, ["rollback", "cli-model", "--env", "staging", "--reason", "oops"])
        ledger = runner.invoke(cli, ["ledger", "--model", "cli-model"])
        staging = api(base, "GET", "/v1/models/cli-model/aliases/staging").json()
    assert listing.exit_code == 0, listing.output
    assert "cli-model" in listing.output
    assert board.exit_code == 0, board.output
    assert "leaderboard" in board.output and "v1" in board.output
    assert refused.exit_code == 1 and "403" in refused.output
    assert approved.exit_code == 0 and "approved cli-model v1 for staging by ana" in approved.output
    assert promoted.exit_code == 0, promoted.output
    assert "promoted cli-model v1 to staging" in promoted.output
    assert no_rollback.exit_code == 1 and "no earlier version" in no_rollback.output
    assert ledger.exit_code == 0, ledger.output
    assert "carl" in ledger.output and "registry" in ledger.output
    assert staging["version"] == 1


def test_the_demo_stage_takes_the_model_to_prod_with_four_eyes(
    world_env: World, start_registry: StartRegistry, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.demo import stage_30_registry

    world = world_env
    tc = clone(world, world.candidates[0], "demo-model", triggered_by="ana")
    with start_registry(REGISTRY_TOKENS=json.dumps(DEMO_TOKENS)) as base:
        monkeypatch.setenv("MLOPS_REGISTRY_URL", base)
        send(world, tc)
        # No trainer runs here: the stage starts once the candidate is reviewed (in `make demo`, training comes first).
        capture.wait_for(lambda e: e.type == "model.evaluated" and e.payload.model_name == "demo-model", timeout=120)
        ctx = DemoContext(urls=ServiceUrls(), console=Console(record=True, width=160), http=httpx.Client(timeout=60))
        ctx.state.update(dataset=tc.dataset, dataset_version=tc.version)
        stage_30_registry.run(ctx)
        prod = api(base, "GET", "/v1/models/demo-model/versions/1").json()["approvals"]["prod"]
    shown = ctx.console.export_text()
    assert ctx.state["model_name"] == "demo-model" and ctx.state["model_version"] == 1
    assert prod["status"] == "approved" and prod["actor"] == "bob"  # ana triggered the training
    assert "prod: promoted by carl" in shown and "leaderboard" in shown and "/ui/models/demo-model" in shown
