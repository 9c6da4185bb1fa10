"""End to end, the whole lifecycle as one story, through the seven real services and their queues:
an upload through ingest -> prepared -> trained -> registered, reviewed, approved and promoted to dev -> served by
inference -> traffic captured -> drift checked -> people told on MS Teams and by email (real local receivers).
The upload's correlation id follows the data all the way to the served model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.demo.data import rows
from shared.topology import Topology
from tests.integration.notifier.conftest import Mailbox, Webhook
from tests.integration.prep.conftest import Capture, subscribe_capture
from tests.integration.registry.conftest import FAST, TOKENS
from tests.integration.trainer.conftest import TINY_ENV
from tests.support.emulator import free_port
from tests.support.pipeline import upload_tickets
from tests.support.servers import running, wait_until

pytestmark = pytest.mark.e2e
DATASET = "lifecycle-tickets"


@dataclass
class Platform:
    urls: dict[str, str]
    events: Capture
    webhook: Webhook
    mailbox: Mailbox


def _settings(webhook: Webhook, mailbox: Mailbox, registry_url: str) -> dict[str, str]:
    return {
        **TINY_ENV,
        **FAST,
        "PREP_MIN_PER_CLASS": "2",
        "REGISTRY_TOKENS": json.dumps(TOKENS),
        "MLOPS_REGISTRY_URL": registry_url,
        "INFERENCE_MODEL_ENV": "dev",
        "INFERENCE_CAPTURE_FLUSH_SECONDS": "0.5",
        "INFERENCE_TORCH_THREADS": "1",
        "MONITOR_MIN_SAMPLES": "40",
        "MONITOR_MIN_LABELS": "10",
        "NOTIFIER_TEAMS_WEBHOOK_URL": webhook.url,
        "NOTIFIER_SMTP_HOST": "127.0.0.1",
        "NOTIFIER_SMTP_PORT": str(mailbox.port),
        "NOTIFIER_SMTP_SECURITY": "none",
        "NOTIFIER_EMAIL_TO": "ml-team@example.com",
        "NOTIFIER_RETRY_BASE_DELAY": "0",
    }


@pytest.fixture
def platform(
    topology: Topology, monkeypatch: pytest.MonkeyPatch, webhook: Webhook, mailbox: Mailbox
) -> Iterator[Platform]:
    registry_port = free_port()
    for name, value in _settings(webhook, mailbox, f"http://127.0.0.1:{registry_port}").items():
        monkeypatch.setenv(name, value)
    from services.inference.app import build_app
    from services.ingest.app import app as ingest
    from services.monitor.app import app as monitor
    from services.notifier.app import app as notifier
    from services.prep.app import app as prep
    from services.registry.app import app as registry
    from services.trainer.app import app as trainer

    events = subscribe_capture(topology)
    with (
        running(notifier) as notifier_url,
        running(ingest) as ingest_url,
        running(prep),
        running(trainer),
        running(registry, port=registry_port) as registry_url,
        running(build_app()) as inference_url,
        running(monitor) as monitor_url,
    ):
        urls = {
            "ingest": ingest_url,
            "registry": registry_url,
            "inference": inference_url,
            "monitor": monitor_url,
            "notifier": notifier_url,
        }
        yield Platform(urls, events, webhook, mailbox)


def _serving(inference: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{inference}/v1/model", timeout=5)
    return answer.json() if answer.status_code == 200 else None


def _send_traffic(inference: str, n: int) -> list[tuple[str, str]]:
    """Fresh in-domain tickets through /v1/predict, with ground truth for a quarter of them."""
    sent = []
    for record in rows(n, 99):
        answer = httpx.post(f"{inference}/v1/predict", json={"texts": [record["text"]]}, timeout=30)
        assert answer.status_code == 200, answer.text
        sent.append((answer.json()["predictions"][0]["prediction_id"], record["label"]))
    for prediction_id, label in sent[: n // 4]:
        stored = httpx.post(f"{inference}/v1/feedback", json={"prediction_id": prediction_id, "label": label})
        assert stored.status_code == 201, stored.text
    return sent


def _drift_run(monitor: str) -> dict[str, Any]:
    answer = httpx.post(f"{monitor}/v1/runs", json={"environment": "dev"}, timeout=300)
    assert answer.status_code == 200, answer.text
    (run,) = answer.json()["runs"]
    return dict(run)


def test_an_upload_becomes_a_served_monitored_model_and_people_hear_of_it(platform: Platform) -> None:
    receipt = upload_tickets(platform.urls["ingest"], DATASET, seed=5)
    (promoted,) = platform.events.wait_for(lambda e: e.type == "model.promoted", timeout=600)
    assert promoted.correlation_id == receipt["correlation_id"]  # one story, from the upload to the served model
    model = wait_until(lambda: _serving(platform.urls["inference"]), timeout=120, what="inference serving")
    assert model["sha256"] == promoted.payload.artifact_sha256  # type: ignore[attr-defined]

    _send_traffic(platform.urls["inference"], 80)
    wait_until(lambda: platform.events.wait_for(lambda e: e.type == "prediction.captured", timeout=30), timeout=60)
    run = _drift_run(platform.urls["monitor"])
    assert run["verdict"] in ("no_drift", "drift"), run  # decided, on the traffic just sent
    assert run["counts"]["records"] == 80 and run["report_url"]

    kinds = {e.type for e in platform.events.poll(2)}
    for kind in (
        "dataset.ingested",
        "dataset.prepared",
        "training.started",
        "training.completed",
        "model.registered",
        "model.evaluated",
        "model.approved",
        "model.promoted",
        "drift.checked",
    ):
        assert kind in kinds, f"{kind} missing from {sorted(kinds)}"
    titles = wait_until(lambda: _titles(platform, {"Training completed", "Promoted"}), timeout=60, what="cards")
    assert any(promoted.payload.model_name in title for title in titles)  # type: ignore[attr-defined]

    view = httpx.get(f"{platform.urls['ingest']}/v1/datasets/{DATASET}", timeout=10).json()
    steps = {step["type"] for version in view["versions"] for step in version["steps"]}
    assert {"dataset.prepared", "training.completed", "model.promoted"} <= steps


def _titles(platform: Platform, wanted: set[str]) -> list[str] | None:
    """Titles of the Teams cards received so far, once every wanted kind of alert has arrived."""
    cards = platform.webhook.inbox.received("teams")
    titles = [json.dumps(card) for card in cards]
    return titles if all(any(w in t for t in titles) for w in wanted) else None
