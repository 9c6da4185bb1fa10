"""A registry world for the integration tests, built once per session: two real prepared data sets (through the real
prep service) and two tiny real Flair candidates laid out like the trainer's output. Each test then runs the real
registry app against it with its own database, tokens and event capture.

Training is the slow part (seconds per candidate), so only two candidates are trained; tests that need more
versions `clone` a candidate under a new candidate id (copies of the same bytes with a matching model card).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.datasets import Manifest
from shared.events import DatasetPrepared, Envelope, EventPayload, S3Location, TrainingCompleted
from shared.messages import decode_body
from shared.modelcard import ModelCard, model_prefix
from shared.provision import apply
from shared.settings import CommonSettings
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture, subscribe_capture
from tests.support.pipeline import prepared_dataset, trained_candidate
from tests.support.servers import running

TOKENS = {
    "ana-approver-token-0001": {"actor": "ana", "roles": ["approver"]},
    "bob-approver-token-0002": {"actor": "bob", "roles": ["approver"]},
    "carl-promoter-token-003": {"actor": "carl", "roles": ["promoter"]},
    "dana-admin-token-000004": {"actor": "dana", "roles": ["admin"]},
}
ANA, BOB, CARL, DANA = list(TOKENS)
FAST = {
    "CONSUMER_WAIT_SECONDS": "1",
    "CONSUMER_VISIBILITY_TIMEOUT": "20",
    "CONSUMER_RETRY_BACKOFF_MAX": "0",
    "REGISTRY_BOOTSTRAP_RESAMPLES": "300",
    # Tiny models on 30-row test splits: the gates that matter here are checksum, card, champion and order.
    "REGISTRY_POLICY": json.dumps(
        {
            "dev": {"auto_approve": True, "min_value": 0.2, "max_slice_gap": 1.0},
            "staging": {"min_value": 0.2, "max_slice_gap": 1.0},
            "prod": {"min_value": 0.2, "max_slice_gap": 1.0, "four_eyes": True},
        }
    ),
}


@dataclass
class World:
    namespace: str
    topology: Topology
    manifests: list[Manifest]
    prepared: list[DatasetPrepared]
    candidates: list[TrainingCompleted]  # candidates[i] was trained on manifests[i]


def _drain_prepared(topology: Topology) -> list[DatasetPrepared]:
    """The dataset.prepared events prep published (they sit in the registry's queue)."""
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=topology.queue_name("registry"))["QueueUrl"]
    found: dict[str, DatasetPrepared] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in got:
            for event in decode_body(message["Body"]):
                if isinstance(event, Envelope) and event.type == "dataset.prepared":
                    prepared = event.payload_as(DatasetPrepared)
                    found[prepared.version] = prepared
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if len(found) >= 2 and not got:
            break
    return list(found.values())


@pytest.fixture(scope="session")
def world(aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    namespace = "r" + uuid.uuid4().hex[:10]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_NAMESPACE", namespace)
        patch.setenv("MLOPS_DATA_DIR", str(tmp_path_factory.mktemp("registry-world")))
        patch.setenv("PREP_MIN_PER_CLASS", "2")
        # Short polls: a stopping prep app's long poll would otherwise swallow the next upload's notification.
        patch.setenv("CONSUMER_WAIT_SECONDS", "1")
        patch.setenv("CONSUMER_VISIBILITY_TIMEOUT", "5")
        common = CommonSettings()
        apply(common)
        topology = Topology(common)
        first = prepared_dataset(topology, dataset="tickets", n=300, seed=7)
        second = prepared_dataset(topology, dataset="tickets-b", n=300, seed=21)
        candidates = [
            trained_candidate(topology, first, seed=1),
            trained_candidate(topology, second, seed=2, params={"epochs": 3}),
        ]
        prepared = {p.dataset: p for p in _drain_prepared(topology)}
    yield World(namespace, topology, [first, second], [prepared["tickets"], prepared["tickets-b"]], candidates)


@pytest.fixture
def world_env(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    """This test's process environment points at the world (and a fresh registry database)."""
    monkeypatch.setenv("MLOPS_NAMESPACE", world.namespace)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REGISTRY_TOKENS", json.dumps(TOKENS))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("MLOPS_PUBLIC_BASE_URL", raising=False)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    _drain(world.topology.queue_name("registry"))
    return world


def _drain(queue: str) -> None:
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


StartRegistry = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def start_registry(world_env: World, monkeypatch: pytest.MonkeyPatch) -> StartRegistry:
    """`with start_registry(REGISTRY_X=...) as url:` runs a fresh registry app (lifespan, consumer and all)."""
    # The module's app (settings are read at start-up): creating one here would reset logging under pytest's capture.
    from services.registry.app import app

    @contextmanager
    def start(**env: str) -> Iterator[str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with running(app) as url:
            yield url

    return start


@pytest.fixture
def capture(world_env: World) -> Capture:
    return subscribe_capture(world_env.topology)


def send(world: World, payload: EventPayload, correlation_id: str = "cid-registry-test") -> Envelope:
    """Put an event into the registry's queue the way SNS delivers it (raw envelope)."""
    source = "prep" if payload.event_type == "dataset.prepared" else "trainer"
    envelope = Envelope.wrap(payload, source=source, correlation_id=correlation_id)
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName=world.topology.queue_name("registry"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=envelope.model_dump_json())
    return envelope


def clone(world: World, candidate: TrainingCompleted, model_name: str, **changes: Any) -> TrainingCompleted:
    """The same trained bytes as a new candidate of `model_name` (artifact, reference and a matching model card)."""
    s3 = boto("s3")
    bucket = candidate.artifact.bucket
    new_id = f"c{uuid.uuid4().hex[:12]}"
    prefix = model_prefix(model_name, new_id)

    def copied(location: S3Location) -> S3Location:
        key = prefix + location.key.rsplit("/", 1)[-1]
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": location.bucket, "Key": location.key})
        return S3Location(bucket=bucket, key=key)

    card = ModelCard.model_validate_json(s3.get_object(Bucket=bucket, Key=candidate.model_card.key)["Body"].read())
    artifact = copied(candidate.artifact)
    reference = copied(card.reference) if card.reference else None
    card = card.model_copy(
        update={
            "model_name": model_name,
            "candidate_id": new_id,
            "artifact": artifact,
            "reference": reference,
            **{k: v for k, v in changes.items() if k in ("triggered_by",)},
        }
    )
    s3.put_object(Bucket=bucket, Key=prefix + "model_card.json", Body=card.model_dump_json().encode())
    return candidate.model_copy(
        update={
            "model_name": model_name,
            "candidate_id": new_id,
            "artifact": artifact,
            "model_card": S3Location(bucket=bucket, key=prefix + "model_card.json"),
            **changes,
        }
    )


def api(base: str, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, base + path, headers=headers, timeout=60, **kwargs)


def version_of(base: str, model: str, candidate_id: str) -> dict[str, Any] | None:
    answer = api(base, "GET", f"/v1/models/{model}")
    if answer.status_code != 200:
        return None
    return next((v for v in answer.json()["versions"] if v["candidate_id"] == candidate_id), None)


def sha256_of(location: str) -> str:
    import hashlib

    loc = S3Location.parse(location)
    return hashlib.sha256(boto("s3").get_object(Bucket=loc.bucket, Key=loc.key)["Body"].read()).hexdigest()


def env_flag() -> bool:
    return os.environ.get("MLOPS_TEST_AWS") == "localstack"
