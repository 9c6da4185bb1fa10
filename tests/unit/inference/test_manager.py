"""The model manager with in-memory ports: refusal of bad bytes (alerted once per target, old model kept), and what
it reports when nothing is promoted or the registry is down."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

from services.inference.aliases import MemoryAliases, ModelTarget, RegistryUnavailable, parse_alias
from services.inference.predictions import Issued, RecentPredictions
from services.inference.storage import MemoryStore
from services.inference.swap import ModelManager
from shared.events import S3Location
from shared.publisher import MemoryPublisher
from tests.unit.inference.fakes import FakeModel


def _manager(aliases: MemoryAliases, store: MemoryStore, publisher: MemoryPublisher) -> ModelManager:
    return ModelManager(
        environment="dev",
        model_name="m",
        aliases=aliases,
        store=store,
        publisher=publisher,
        loader=ThreadPoolExecutor(1),
    )


async def test_bytes_that_do_not_match_the_checksum_are_never_loaded() -> None:
    store, publisher = MemoryStore(), MemoryPublisher()
    # Not a model at all: if the manager unpickled before checking, this test would fail differently.
    store.objects[("b", "models/m/c1/model.pt")] = b"tampered bytes"
    expected = hashlib.sha256(b"the genuine bytes").hexdigest()
    target = ModelTarget("m", 3, S3Location(bucket="b", key="models/m/c1/model.pt"), expected)
    manager = _manager(MemoryAliases(target), store, publisher)
    serving = FakeModel(version=2)
    manager.current = serving  # type: ignore[assignment]
    await manager.refresh("test")
    await manager.refresh("test again")  # refused recently: not downloaded and alerted again
    assert manager.current is serving
    alerts = publisher.of_type("model.integrity_failed")
    assert len(alerts) == 1
    payload = alerts[0].payload
    assert (payload.version, payload.expected_sha256) == (3, expected)  # type: ignore[attr-defined]
    assert payload.actual_sha256 == hashlib.sha256(b"tampered bytes").hexdigest()  # type: ignore[attr-defined]
    assert "sha256 mismatch" in (manager.state.last_error or "")


async def test_nothing_promoted_is_reported_in_words() -> None:
    manager = _manager(MemoryAliases(None), MemoryStore(), MemoryPublisher())
    assert await manager.refresh("start") is None
    assert (manager.state.status, manager.state.detail) == ("no_model", "no model 'm' is promoted to dev yet")


async def test_registry_down_keeps_the_current_model() -> None:
    aliases = MemoryAliases(None)
    aliases.error = RegistryUnavailable("connection refused")
    manager = _manager(aliases, MemoryStore(), MemoryPublisher())
    serving = FakeModel()
    manager.current = serving  # type: ignore[assignment]
    assert await manager.refresh("poll") is serving
    assert manager.state.last_error == "connection refused"


def test_alias_answers_parse_in_both_location_shapes() -> None:
    target = parse_alias(
        {
            "model_name": "m",
            "version": 4,
            "artifact": "s3://prod-bucket/models/m/c9/model.pt",
            "artifact_sha256": "ab" * 32,
            "transformer": {"bucket": "dev-bucket", "key": "processed/d/v/transformer.json"},
            "labels": ["x", "y"],
        }
    )
    assert target.artifact == S3Location(bucket="prod-bucket", key="models/m/c9/model.pt")
    assert target.transformer is not None and target.transformer.key == "processed/d/v/transformer.json"
    assert (target.version, target.labels) == (4, ("x", "y"))


def test_recent_predictions_forget_the_oldest_first() -> None:
    recent = RecentPredictions(capacity=3)
    for i in range(5):
        recent.remember(f"p{i}", Issued("m", 1, ("a",), "a"))
    assert len(recent) == 3
    assert recent.get("p0") is None and recent.get("p1") is None
    assert recent.get("p4") is not None
