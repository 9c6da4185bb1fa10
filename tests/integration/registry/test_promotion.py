"""Approval and promotion through the real API: tokens and roles, four eyes, order, integrity, rollback, the ledger
and "which version served prod at time T". Artifacts are really copied between the environment buckets."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest

from shared.events import S3Location
from tests.conftest import boto
from tests.integration.prep.conftest import Capture
from tests.integration.registry.conftest import (
    ANA,
    BOB,
    CARL,
    DANA,
    TOKENS,
    StartRegistry,
    World,
    api,
    clone,
    send,
    sha256_of,
)

pytestmark = pytest.mark.integration
MODEL = "promo"


def _decide(base: str, verb: str, version: int, env: str, token: str | None, **extra: object) -> tuple[int, dict]:
    body = {"environment": env, "reason": f"{verb} in the test", **extra}
    answer = api(base, "POST", f"/v1/models/{MODEL}/versions/{version}/{verb}", token, json=body)
    return answer.status_code, answer.json()


def _keys(bucket: str, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in boto("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_the_path_to_prod_with_roles_four_eyes_order_tamper_and_rollback(
    world_env: World, start_registry: StartRegistry, capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = world_env
    buckets = world.topology.buckets
    first = clone(world, world.candidates[0], MODEL, triggered_by="ana")
    second = clone(world, world.candidates[1], MODEL, triggered_by="ana")
    with start_registry() as base:
        send(world, first)
        capture.wait_for(lambda e: e.type == "model.promoted" and e.payload.model_name == MODEL, timeout=120)
        send(world, second)
        capture.wait_for(lambda e: e.type == "model.evaluated" and e.payload.version == 2, timeout=120)

        # Tokens and roles
        assert _decide(base, "approve", 1, "staging", None)[0] == 401
        assert _decide(base, "approve", 1, "staging", "not-a-valid-token-at-all")[0] == 401
        assert _decide(base, "promote", 1, "staging", ANA)[0] == 403  # an approver may not promote
        assert _decide(base, "approve", 1, "staging", CARL)[0] == 403  # a promoter may not approve
        # Unknown things, bad input
        assert _decide(base, "approve", 9, "staging", ANA)[0] == 404
        assert (
            api(
                base, "POST", "/v1/models/nope/versions/1/approve", ANA, json={"environment": "dev", "reason": "x y z"}
            ).status_code
            == 404
        )
        assert _decide(base, "approve", 1, "qa", ANA)[0] == 422
        assert api(base, "GET", "/v1/models/nope/aliases/dev").status_code == 404
        assert api(base, "GET", f"/v1/models/{MODEL}/aliases/prod").status_code == 404

        # Unapproved and out of order
        status, body = _decide(base, "promote", 1, "staging", CARL)
        assert status == 409 and "not approved for staging" in body["detail"]
        assert _decide(base, "approve", 1, "staging", ANA)[0] == 200
        status, body = _decide(base, "approve", 1, "staging", BOB)
        assert status == 409 and "already approved by ana" in body["detail"]  # approving twice
        assert _decide(base, "approve", 1, "prod", ANA)[0] == 403  # four eyes: ana triggered the training
        assert _decide(base, "approve", 1, "prod", BOB)[0] == 200
        status, body = _decide(base, "promote", 1, "prod", CARL)
        assert status == 409 and "before prod" in body["detail"]
        # Compare-and-set against what the caller saw
        status, body = _decide(base, "promote", 1, "staging", CARL, expected_version=7)
        assert status == 409 and "not the expected 7" in body["detail"]
        assert _decide(base, "promote", 1, "staging", CARL, expected_version=0)[0] == 200
        promoted = _decide(base, "promote", 1, "prod", DANA)
        assert promoted[0] == 200 and promoted[1]["to_version"] == 1
        t_v1 = time.time()
        time.sleep(0.05)
        for env in ("staging", "prod"):
            alias = api(base, "GET", f"/v1/models/{MODEL}/aliases/{env}").json()
            assert alias["artifact"]["bucket"] == buckets[env] and alias["version"] == 1
            assert sha256_of(S3Location(**alias["artifact"]).uri) == first.artifact_sha256
            assert {"model.pt", "model_card.json", "reference.jsonl", "transformer.json"} == {
                k.rsplit("/", 1)[-1] for k in _keys(buckets[env], f"models/{MODEL}/v1/")
            }

        # v2 to dev (approve if the gates left it pending), then a tampered artifact on the way to staging
        v2 = api(base, "GET", f"/v1/models/{MODEL}/versions/2").json()
        if v2["approvals"]["dev"]["status"] == "pending":
            assert _decide(base, "approve", 2, "dev", BOB)[0] == 200
        assert _decide(base, "promote", 2, "dev", CARL)[0] in (200,)
        assert _decide(base, "approve", 2, "staging", BOB)[0] == 200
        boto("s3").put_object(Bucket=second.artifact.bucket, Key=second.artifact.key, Body=b"swapped bytes")
        status, body = _decide(base, "promote", 2, "staging", CARL)
        assert status == 409 and "sha256" in body["detail"]
        assert _keys(buckets["staging"], f"models/{MODEL}/v2/") == []  # nothing half-written
        assert api(base, "GET", f"/v1/models/{MODEL}/aliases/staging").json()["version"] == 1
        failed = capture.wait_for(lambda e: e.type == "model.integrity_failed" and e.payload.model_name == MODEL)
        assert failed[0].payload.environment == "staging"
        assert api(base, "GET", f"/v1/models/{MODEL}/versions/2").json()["status"] == "integrity_failed"

        # Rollback dev to v1 in one call; then nothing earlier is left
        rolled = api(base, "POST", f"/v1/models/{MODEL}/aliases/dev/rollback", CARL, json={"reason": "v2 misbehaves"})
        assert rolled.status_code == 200, rolled.text
        assert (rolled.json()["from_version"], rolled.json()["to_version"]) == (2, 1)
        again = api(base, "POST", f"/v1/models/{MODEL}/aliases/dev/rollback", CARL, json={"reason": "again"})
        assert again.status_code == 409

        ledger = api(base, "GET", f"/v1/models/{MODEL}/ledger").json()
        at = datetime.fromtimestamp(t_v1, UTC).isoformat()
        served = api(base, "GET", f"/v1/models/{MODEL}/aliases/prod/at", params={"time": at}).json()
        before = datetime.fromtimestamp(ledger[0]["at"] - 60, UTC).isoformat()
        nothing = api(base, "GET", f"/v1/models/{MODEL}/aliases/prod/at", params={"time": before}).json()
        dev_now = api(base, "GET", f"/v1/models/{MODEL}/aliases/dev").json()
        capture.wait_for(lambda e: e.type == "model.rolled_back")
    per_env = {
        env: [(e["action"], e["from_version"], e["to_version"]) for e in ledger if e["environment"] == env]
        for env in ("dev", "staging", "prod")
    }
    # v2 went to dev by itself when its review beat v1 on both test sets (automatic approval), by carl otherwise
    assert per_env == {
        "dev": [("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1)],
        "staging": [("promote", None, 1)],
        "prod": [("promote", None, 1)],
    }
    assert [e["actor"] for e in ledger if e["environment"] != "dev"] == ["carl", "dana"]
    assert ledger[-1]["reason"] == "v2 misbehaves"
    assert served["version"] == 1 and nothing["version"] is None
    assert dev_now["version"] == 1 and dev_now["artifact"]["key"] == f"models/{MODEL}/v1/model.pt"
    kinds = [e.type for e in capture.seen if getattr(e.payload, "model_name", None) == MODEL]
    assert kinds.count("model.promoted") == 4 and kinds.count("model.rolled_back") == 1
    assert "model.approved" in kinds
    lines = [r.getMessage() for r in caplog.records]
    for token in TOKENS:
        assert not [line for line in lines if token in line]
