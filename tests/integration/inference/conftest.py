"""A real tiny model pair in the emulator, a fake registry over HTTP, and real inference apps to test against.

The world (prepared data set, two trained candidates, the fake registry's server) is built once per package: it
costs a prep run and two short trainings. Each test starts its own inference app(s) with the settings it needs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.inference.app import build_app
from shared.events import Envelope, ModelPromoted, TrainingCompleted
from shared.publisher import message_attributes
from shared.settings import CommonSettings
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture, subscribe_capture
from tests.support.fake_registry import FakeRegistry
from tests.support.servers import running, wait_until

MODEL = "tickets-clf"
FAST = {
    "CONSUMER_WAIT_SECONDS": "1",
    "CONSUMER_VISIBILITY_TIMEOUT": "10",
    "INFERENCE_MODEL_ENV": "dev",
    "INFERENCE_MODEL_NAME": MODEL,
    "INFERENCE_CAPTURE_FLUSH_SECONDS": "0.5",
    "INFERENCE_TORCH_THREADS": "1",
}


@dataclass
class World:
    topology: Topology
    registry: FakeRegistry
    registry_url: str
    v1: TrainingCompleted
    v2: TrainingCompleted
    data_dir: Path

    def promote(self, candidate: TrainingCompleted, version: int, *, publish: bool = True, **extra: Any) -> None:
        """Move the dev alias (registry first, like the registry) and announce it on the topic."""
        self.registry.point("dev", MODEL, version, candidate.artifact, candidate.artifact_sha256, **extra)
        if publish:
            payload = ModelPromoted(
                model_name=MODEL,
                version=version,
                environment="dev",
                artifact=candidate.artifact,
                artifact_sha256=candidate.artifact_sha256,
                actor="test",
            )
            envelope = Envelope.wrap(payload, source="registry", correlation_id=f"promote-{version}")
            topic = self.topology.topic_arn(boto("sts").get_caller_identity()["Account"])
            boto("sns").publish(
                TopicArn=topic, Message=envelope.model_dump_json(), MessageAttributes=message_attributes(envelope)
            )

    def events(self) -> Capture:
        return subscribe_capture(self.topology)


@pytest.fixture(scope="package")
def world(aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from shared.provision import apply
    from tests.support.pipeline import prepared_dataset, trained_candidate

    data_dir = tmp_path_factory.mktemp("inference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_NAMESPACE", "t" + uuid.uuid4().hex[:10])
        mp.setenv("MLOPS_DATA_DIR", str(data_dir / "data"))
        common = CommonSettings()
        apply(common)
        topology = Topology(common)
        manifest = prepared_dataset(topology, n=240)
        v1 = trained_candidate(topology, manifest, MODEL, seed=1)
        v2 = trained_candidate(topology, manifest, MODEL, params={"emb_dim": 16}, seed=2)
        registry = FakeRegistry()
        with running(registry.app, ready_path="/docs") as url:
            mp.setenv("MLOPS_REGISTRY_URL", url)
            yield World(topology, registry, url, v1, v2, data_dir)


StartInference = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def start_inference(world: World, monkeypatch: pytest.MonkeyPatch) -> StartInference:
    """`with start_inference(INFERENCE_X=...) as url:` runs a fresh inference app with those settings."""

    @contextmanager
    def start(**env: str) -> Iterator[str]:
        for name, value in {**FAST, **env}.items():
            monkeypatch.setenv(name, value)
        with running(build_app()) as url:
            yield url

    return start


@pytest.fixture(autouse=True)
def _fresh_alias(world: World) -> None:
    world.registry.aliases.clear()


def wait_serving(url: str, version: int, timeout: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        answer = httpx.get(f"{url}/v1/model", timeout=5)
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 200 and body["version"] == version else None

    result: dict[str, Any] = wait_until(probe, timeout=timeout, what=f"serving version {version}")
    return result


def s3_keys(bucket: str, prefix: str) -> list[str]:
    pages = boto("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def s3_text(bucket: str, key: str) -> str:
    return str(boto("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def env_for_subprocess(**extra: str) -> dict[str, str]:
    return {**os.environ, **FAST, **extra}
