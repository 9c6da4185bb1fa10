"""`/v1/studies` on the real app: start a study with overrides, follow it while the API keeps answering, ask again
(one study), refuse nonsense with reasons, cancel a running study cleanly. W&B runs are written offline."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from shared.topology import Topology
from tests.integration.prep.conftest import Capture
from tests.integration.trainer.conftest import TINY_SPACE, StartTrainer
from tests.support.pipeline import prepared_dataset
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration


def _state(url: str, sid: str, *states: str) -> dict | None:
    study = httpx.get(f"{url}/v1/studies/{sid}", timeout=10).json()
    return study if study["state"] in states else None


def test_start_follow_repeat_refuse_and_cancel_studies(
    topology: Topology, start_trainer: StartTrainer, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    manifest = prepared_dataset(topology)
    body = {"dataset": "tickets", "n_trials": 1, "search_space": TINY_SPACE}
    # The consumer is off: only the API starts studies here (the manifest's notification waits in the queue).
    with start_trainer(CONSUMER_ENABLED="false", TRAINER_WANDB_MODE="auto") as url:
        started = httpx.post(f"{url}/v1/studies", json=body, timeout=30)
        assert started.status_code == 202, started.text
        sid = started.json()["id"]
        assert started.headers["location"] == f"/v1/studies/{sid}" and started.json()["version"] == manifest.version
        done = wait_until(lambda: _state(url, sid, "completed", "failed"), timeout=240, interval=0.5, what="the study")
        assert done["state"] == "completed", done
        assert done["progress"]["trials_done"] == done["progress"]["trials_total"] == 1
        assert done["progress"]["best_value"] == done["outcome"]["best_value"]

        again = httpx.post(f"{url}/v1/studies", json=body, timeout=30)
        assert again.status_code == 200 and again.json()["id"] == sid

        refused = httpx.post(f"{url}/v1/studies", json={**body, "search_space": {"lr": {"low": -1, "high": 0.1}}})
        assert refused.status_code == 422 and "learning rate must be positive" in refused.json()["detail"]
        refused = httpx.post(f"{url}/v1/studies", json={**body, "search_space": {"batch": []}})
        assert refused.status_code == 422 and "empty list of choices" in refused.json()["detail"]
        assert httpx.post(f"{url}/v1/studies", json={**body, "dataset": "nothing-here"}).status_code == 404
        assert httpx.post(f"{url}/v1/studies", json={**body, "n_trials": 0}).status_code == 422
        assert httpx.delete(f"{url}/v1/studies/{sid}").status_code == 409
        assert httpx.get(f"{url}/v1/studies/nope").status_code == 404

        slow = {**body, "n_trials": 20, "search_space": {**TINY_SPACE, "epochs": {"low": 40, "high": 40}}}
        long_sid = httpx.post(f"{url}/v1/studies", json=slow, timeout=30).json()["id"]
        wait_until(
            lambda: (_state(url, long_sid, "running") or {}).get("progress", {}).get("trials_running"),
            timeout=120,
            interval=0.5,
            what="a running trial",
        )
        assert httpx.delete(f"{url}/v1/studies/{long_sid}").json()["state"] == "cancelling"
        cancelled = wait_until(lambda: _state(url, long_sid, "cancelled", "failed", "completed"), timeout=120)
        assert cancelled["state"] == "cancelled" and cancelled["progress"]["trials_done"] < 20
        listed = httpx.get(f"{url}/v1/studies", params={"dataset": "tickets"}).json()
        assert {s["id"] for s in listed} == {sid, long_sid}

    failed = capture.wait_for(lambda e: e.type == "training.failed")
    assert failed[0].payload.study_id == long_sid and "cancelled" in failed[0].payload.reason
    completed = [e for e in capture.poll(1) if e.type == "training.completed"]
    assert [e.payload.study_id for e in completed] == [sid]
    runs = list((Path(os.environ["MLOPS_DATA_DIR"]) / "trainer" / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) >= 2  # the trial and the study summary, offline without WANDB_API_KEY
