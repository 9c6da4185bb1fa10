"""Promotion, approval and rollback rules on the real stores (SQLite) with an in-memory artifact store."""

from __future__ import annotations

import pytest

from services.registry import decisions, promotion
from services.registry.deps import RegistryDeps
from services.registry.errors import Conflict, Forbidden, IntegrityFailure, NotFound
from services.registry.promotion import rollback_target
from shared.events import S3Location
from tests.unit.registry.conftest import FakeArtifacts, add_version, approve_everywhere


async def test_promote_copies_and_verifies_then_moves_the_alias_and_stages_the_event(
    deps: RegistryDeps, store: FakeArtifacts
) -> None:
    row = await add_version(deps, store, "m", "c1")
    await approve_everywhere(deps, row)
    entry = await promotion.promote(deps, "m", 1, "dev", "carl", "ship it")
    assert (entry["from_version"], entry["to_version"], entry["changed"]) == (None, 1, True)
    assert store.objects[("unit-dev", "models/m/v1/model.pt")] == b"model bytes"
    again = await promotion.promote(deps, "m", 1, "dev", "carl", "ship it")  # idempotent
    assert again["changed"] is False and len(await deps.releases.ledger("m")) == 1
    published = deps.publisher.of_type("model.promoted")  # type: ignore[attr-defined]
    assert [e.payload.artifact.uri for e in published] == ["s3://unit-dev/models/m/v1/model.pt"]


async def test_order_approval_and_expected_version_are_enforced(deps: RegistryDeps, store: FakeArtifacts) -> None:
    row = await add_version(deps, store, "m", "c1")
    with pytest.raises(Conflict, match="not approved for dev"):
        await promotion.promote(deps, "m", 1, "dev", "carl", "no")
    await approve_everywhere(deps, row)
    with pytest.raises(Conflict, match="before staging"):
        await promotion.promote(deps, "m", 1, "staging", "carl", "skip dev")
    with pytest.raises(Conflict, match="not the expected 3"):
        await promotion.promote(deps, "m", 1, "dev", "carl", "x", expected_version=3)
    with pytest.raises(NotFound):
        await promotion.promote(deps, "m", 5, "dev", "carl", "x")
    assert await deps.releases.ledger("m") == []


async def test_four_eyes_and_deciding_twice(deps: RegistryDeps, store: FakeArtifacts) -> None:
    row = await add_version(deps, store, "m", "c1")
    for env in ("dev", "prod"):
        await deps.releases.request("m", 1, env, {"gates": []})
    with pytest.raises(Forbidden, match="four-eyes"):
        await decisions.approve(deps, "m", 1, "prod", row["triggered_by"], "my own model")
    await decisions.approve(deps, "m", 1, "prod", "bob", "looks good")
    with pytest.raises(Conflict, match="already approved by bob"):
        await decisions.reject(deps, "m", 1, "prod", "eve", "changed my mind")
    await decisions.approve(deps, "m", 1, "dev", row["triggered_by"], "no four eyes in dev")


async def test_a_tampered_artifact_is_refused_alerted_and_leaves_nothing(
    deps: RegistryDeps, store: FakeArtifacts
) -> None:
    row = await add_version(deps, store, "m", "c1")
    await approve_everywhere(deps, row)
    store.put(row["artifact_uri"], b"evil pickle")
    with pytest.raises(IntegrityFailure, match="sha256"):
        await promotion.promote(deps, "m", 1, "dev", "carl", "x")
    assert ("unit-dev", "models/m/v1/model.pt") not in store.objects
    assert await deps.releases.alias("m", "dev") is None
    (alert,) = deps.publisher.of_type("model.integrity_failed")  # type: ignore[attr-defined]
    assert alert.payload.expected_sha256 == row["artifact_sha256"] and alert.severity == "critical"
    assert (await deps.catalog.version("m", 1))["status"] == "integrity_failed"  # type: ignore[index]


async def test_rollback_walks_back_and_rechecks_the_environment_copy(deps: RegistryDeps, store: FakeArtifacts) -> None:
    for n in (1, 2, 3):
        await approve_everywhere(deps, await add_version(deps, store, "m", f"c{n}", f"bytes {n}".encode()))
        await promotion.promote(deps, "m", n, "dev", "carl", f"v{n}")
    assert (await promotion.rollback(deps, "m", "dev", "carl", "bad"))["to_version"] == 2
    store.put("s3://unit-dev/models/m/v1/model.pt", b"tampered in the env bucket")
    with pytest.raises(IntegrityFailure):
        await promotion.rollback(deps, "m", "dev", "carl", "worse")
    assert (await deps.releases.alias("m", "dev"))["version"] == 2  # type: ignore[index]


def test_rollback_target_pops_promotions() -> None:
    def e(action: str, to: int) -> dict:
        return {"action": action, "to_version": to}

    assert rollback_target([e("promote", 1)]) is None
    assert rollback_target([e("promote", 1), e("promote", 2), e("promote", 3)]) == 2
    assert rollback_target([e("promote", 1), e("promote", 2), e("promote", 3), e("rollback", 2)]) == 1
    assert rollback_target([e("promote", 1), e("promote", 2), e("rollback", 1), e("promote", 4)]) == 1


async def test_the_same_tamper_found_twice_is_alerted_once(deps: RegistryDeps, store: FakeArtifacts) -> None:
    row = await add_version(deps, store, "m", "c1")
    location = S3Location.parse(row["artifact_uri"])
    for _ in range(2):  # e.g. two replicas, or a retry: the same deterministic event, staged once
        with pytest.raises(IntegrityFailure):
            await promotion.integrity_failed(deps, row, "dev", location, "f" * 64)
    assert len(deps.publisher.of_type("model.integrity_failed")) == 1  # type: ignore[attr-defined]
    assert await deps.releases.flush(deps.publisher) == 0  # nothing left staged
