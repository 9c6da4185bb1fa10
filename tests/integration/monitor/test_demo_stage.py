"""The demo's monitoring stage against the real inference and monitor apps: traffic through `/v1/predict`, captured
by inference, checked by the monitor over exactly that window, with the verdicts and the report link shown."""

from __future__ import annotations

import io

import httpx
import pytest
from rich.console import Console

from services.inference.app import build_app
from shared.demo.context import DemoContext
from tests.integration.monitor.conftest import MODEL, StartMonitor, World
from tests.support.fake_registry import FakeRegistry
from tests.support.servers import running, wait_until

pytestmark = pytest.mark.integration
INFERENCE = {
    "INFERENCE_MODEL_ENV": "dev",
    "INFERENCE_MODEL_NAME": MODEL,
    "INFERENCE_CAPTURE_FLUSH_SECONDS": "0.5",
    "INFERENCE_TORCH_THREADS": "1",
}


def test_the_demo_stage_shows_verdicts_and_the_report(
    world: World, start_monitor: StartMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.demo import stage_50_monitoring

    registry = FakeRegistry()
    registry.point("dev", MODEL, 1, world.candidate.artifact, world.candidate.artifact_sha256)
    for name, value in INFERENCE.items():
        monkeypatch.setenv(name, value)
    with running(registry.app, ready_path="/docs") as registry_url:
        monkeypatch.setenv("MLOPS_REGISTRY_URL", registry_url)
        with running(build_app()) as inference_url, start_monitor() as monitor_url:
            monkeypatch.setenv("MLOPS_INFERENCE_URL", inference_url)
            monkeypatch.setenv("MLOPS_MONITOR_URL", monitor_url)
            wait_until(lambda: httpx.get(f"{inference_url}/v1/model", timeout=5).status_code == 200, timeout=120)
            world.promote("dev")
            out = io.StringIO()
            ctx = DemoContext(console=Console(file=out, width=200))
            ctx.state.update(model_name=MODEL, model_version=1)
            stage_50_monitoring.run(ctx)
            shown = out.getvalue()
            drifted = httpx.get(f"{monitor_url}/v1/runs/{ctx.state['drift_run']}", timeout=10).json()
    assert drifted["verdict"] == "drift" and drifted["counts"]["records"] == stage_50_monitoring.TEXTS_PER_WINDOW
    assert "content" in [n for n, c in drifted["checks"].items() if c["status"] == "drift"]
    assert "In-domain traffic" in shown and "Out-of-domain traffic" in shown
    assert f"/v1/runs/{drifted['id']}/report" in shown and "Verdict: drift" in shown
