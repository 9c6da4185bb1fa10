"""A monitor world in the emulator, built once per package: a real prepared data set (through the real prep service),
a tiny real Flair candidate laid out like the trainer's output, and that model's real predictions on two kinds of
traffic (support tickets like its training data, and film reviews it never saw), to write as inference captures them.
Each test starts its own monitor app with the settings it needs.
"""

from __future__ import annotations

import json
import random
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.monitor.app import SPEC
from shared.capture import capture_key, feedback_key
from shared.events import Envelope, EventPayload, ModelPromoted, TrainingCompleted
from shared.publisher import message_attributes
from shared.service import create_app
from shared.settings import CommonSettings
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture, subscribe_capture
from tests.support.servers import running

MODEL = "tickets-clf"
FAST = {
    "CONSUMER_WAIT_SECONDS": "1",
    "CONSUMER_VISIBILITY_TIMEOUT": "30",
    "CONSUMER_RETRY_BACKOFF_MAX": "0",
    # Small samples keep Evidently quick; the tiny data set has a few dozen held-out reference rows.
    "MONITOR_SAMPLE_SIZE": "80",
    "MONITOR_MIN_SAMPLES": "20",
    "MONITOR_MIN_LABELS": "15",
    "MONITOR_REFERENCE_SIZE": "300",
    "MONITOR_EMBEDDED_SCHEDULER": "false",
    "MONITOR_HEALTH_ENABLED": "false",
    "MONITOR_REPORT_BASE_URL": "http://monitor.example",
}
_FILM = (
    "the plot drags and the actors overplay every scene while the director wastes a brilliant script "
    "cinematography stunning soundtrack forgettable ending predictable characters shallow sequel screenplay"
)
FILM = _FILM.split(" ")


def film_reviews(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(FILM) for _ in range(rng.randint(12, 25))).capitalize() + "." for _ in range(n)]


@dataclass
class World:
    topology: Topology
    candidate: TrainingCompleted
    tickets: list[dict[str, Any]]  # text, label (truth), prediction, probability: the model's own domain
    films: list[dict[str, Any]]  # film reviews through the same model

    @property
    def home(self) -> str:
        return self.topology.home_bucket

    def publish(self, payload: EventPayload, source: str = "registry") -> Envelope:
        envelope = Envelope.wrap(payload, source=source, correlation_id=f"test-{uuid.uuid4().hex[:8]}")
        topic = self.topology.topic_arn(boto("sts").get_caller_identity()["Account"])
        boto("sns").publish(
            TopicArn=topic, Message=envelope.model_dump_json(), MessageAttributes=message_attributes(envelope)
        )
        return envelope

    def promote(self, environment: str = "dev", version: int = 1, artifact: Any = None) -> Envelope:
        return self.publish(
            ModelPromoted(
                model_name=MODEL,
                version=version,
                environment=environment,
                artifact=artifact or self.candidate.artifact,
                artifact_sha256=self.candidate.artifact_sha256,
                actor="test",
            )
        )

    def capture(
        self,
        rows: list[dict[str, Any]],
        start: datetime,
        env: str = "dev",
        bad_lines: int = 0,
        version: int = 1,
        spacing: float = 1.0,
    ) -> list[str]:
        """Write rows as inference does (one batch object per hour of `start`); returns their prediction ids."""
        ids, lines = [], []
        for i, row in enumerate(rows):
            pid = uuid.uuid4().hex
            ids.append(pid)
            record = {
                "prediction_id": pid,
                "ts": (start + timedelta(seconds=i * spacing)).isoformat(),
                "environment": env,
                "model_name": MODEL,
                "version": version,
                "text": row["text"],
                "label": row["prediction"],
                "probability": row["probability"],
            }
            lines.append(json.dumps(record))
        corrupt = ['{"prediction_id": "cut off', "\x00garbage", "{}", '{"text": "no id"}']
        lines[len(lines) // 2 : len(lines) // 2] = [corrupt[i % len(corrupt)] for i in range(bad_lines)]
        key = capture_key(env, MODEL, start + timedelta(minutes=30), uuid.uuid4().hex)
        boto("s3").put_object(Bucket=CommonSettings().bucket_for(env), Key=key, Body="\n".join(lines).encode())
        return ids

    def feedback(self, labels: dict[str, str], moment: datetime, env: str = "dev") -> None:
        body = "".join(
            json.dumps({"prediction_id": pid, "ts": moment.isoformat(), "environment": env, "label": label}) + "\n"
            for pid, label in labels.items()
        )
        key = feedback_key(env, moment, uuid.uuid4().hex)
        boto("s3").put_object(Bucket=CommonSettings().bucket_for(env), Key=key, Body=body.encode())

    def events(self) -> Capture:
        return subscribe_capture(self.topology)


def _predict(candidate: TrainingCompleted, texts: list[str]) -> list[dict[str, Any]]:
    from shared.classifier import load_verified, predict

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        boto("s3").download_file(candidate.artifact.bucket, candidate.artifact.key, str(path))
        model = load_verified(path, candidate.artifact_sha256)
    return [
        {"text": t, "prediction": p.label, "probability": p.probability}
        for t, p in zip(texts, predict(model, texts), strict=True)
    ]


@pytest.fixture(scope="package")
def world(aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from shared.demo.data import rows as ticket_rows
    from shared.provision import apply
    from tests.support.pipeline import prepared_dataset, trained_candidate

    data_dir = tmp_path_factory.mktemp("monitor")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_NAMESPACE", "t" + uuid.uuid4().hex[:10])
        mp.setenv("MLOPS_DATA_DIR", str(data_dir / "data"))
        common = CommonSettings()
        apply(common)
        topology = Topology(common)
        manifest = prepared_dataset(topology, n=400)
        candidate = trained_candidate(topology, manifest, MODEL, seed=1)
        fresh = ticket_rows(120, seed=99)  # the same population as the training data, new rows
        tickets = _predict(candidate, [r["text"] for r in fresh])
        for row, source in zip(tickets, fresh, strict=True):
            row["label"] = source["label"]
        films = _predict(candidate, film_reviews(120, seed=5))
        yield World(topology, candidate, tickets, films)


StartMonitor = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def start_monitor(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> StartMonitor:
    """`with start_monitor(MONITOR_X=...) as url:` runs a fresh monitor app (own database) with those settings."""

    @contextmanager
    def start(**env: str) -> Iterator[str]:
        monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / f"data-{uuid.uuid4().hex[:6]}"))
        for name, value in {**FAST, **env}.items():
            monkeypatch.setenv(name, value)
        with running(create_app(SPEC)) as url:
            yield url

    return start
