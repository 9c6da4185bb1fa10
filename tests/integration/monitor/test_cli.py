"""`mlops drift run/runs/show` against the real monitor app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from shared.cli.main import app
from tests.integration.monitor.conftest import StartMonitor, World
from tests.integration.monitor.test_drift_runs import reference_of
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration


def test_drift_commands(world: World, start_monitor: StartMonitor, monkeypatch: pytest.MonkeyPatch) -> None:
    start = datetime(2026, 1, 9, 10, tzinfo=UTC)
    world.capture(world.films[:60], start)
    runner = CliRunner()
    monkeypatch.setenv("COLUMNS", "250")
    with start_monitor() as url:
        monkeypatch.setenv("MLOPS_MONITOR_URL", url)
        world.promote("dev")
        wait_until(lambda: reference_of(url, "dev"), timeout=60, what="reference")
        until = (start + timedelta(hours=1)).isoformat()
        ran = runner.invoke(app, ["drift", "run", "--env", "dev", "--since", start.isoformat(), "--until", until])
        assert ran.exit_code == 0, ran.output
        assert "drift" in ran.output and "content" in ran.output and "/report" in ran.output
        nothing = runner.invoke(app, ["drift", "run", "--env", "prod"])
        assert nothing.exit_code == 0 and "not_enough_data" in nothing.output and "no model has been" in nothing.output
        listed = runner.invoke(app, ["drift", "runs", "--env", "dev"])
        assert listed.exit_code == 0 and "tickets-clf v1" in listed.output
        run_id = httpx.get(f"{url}/v1/runs", params={"environment": "dev"}, timeout=10).json()[0]["id"]
        assert run_id in listed.output
        shown = runner.invoke(app, ["drift", "show", run_id])
        assert shown.exit_code == 0 and "descriptors" in shown.output, shown.output
        missing = runner.invoke(app, ["drift", "show", "nope"])
        assert missing.exit_code == 1 and "404" in missing.output
