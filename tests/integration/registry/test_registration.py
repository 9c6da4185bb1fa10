"""Registration, review and automatic dev promotion through the real registry app and its SQS queue."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from shared.events import S3Location
from tests.conftest import boto
from tests.integration.prep.conftest import Capture
from tests.integration.registry.conftest import StartRegistry, World, api, clone, send, sha256_of, version_of
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration


def _types(capture: Capture, model: str) -> list[str]:
    return [e.type for e in capture.seen if getattr(e.payload, "model_name", None) == model]


def test_a_candidate_is_registered_reviewed_approved_and_promoted_to_dev(
    world_env: World, start_registry: StartRegistry, capture: Capture
) -> None:
    world = world_env
    tc = clone(world, world.candidates[0], "reg-flow", triggered_by="ana")
    plot = f"{tc.experiments_prefix}plots/optimization_history.html"
    boto("s3").put_object(Bucket=tc.artifact.bucket, Key=plot, Body=b"<html>optuna history</html>")
    send(world, world.prepared[0])
    envelope = send(world, tc)
    with start_registry(MLOPS_PUBLIC_BASE_URL="https://mlops.example.com") as base:
        capture.wait_for(lambda e: e.type == "model.promoted" and e.payload.model_name == "reg-flow", timeout=120)
        send(world, tc)  # redelivered: registered once
        version = api(base, "GET", "/v1/models/reg-flow/versions/1").json()
        alias = api(base, "GET", "/v1/models/reg-flow/aliases/dev").json()
        ledger = api(base, "GET", "/v1/models/reg-flow/ledger").json()
        wait_until(lambda: capture.poll(2) is not None and _types(capture, "reg-flow").count("model.registered") >= 1)
        versions = api(base, "GET", "/v1/models/reg-flow/versions").json()["versions"]
        board = api(base, "GET", "/v1/models/reg-flow/leaderboard").json()["leaderboard"]
        page = api(base, "GET", "/ui/models/reg-flow/versions/1").text
        shown = httpx.get(
            f"{base}/ui/models/reg-flow/versions/1/plots/plots/optimization_history.html",
            follow_redirects=True,
            timeout=30,
        )
        missing = httpx.get(f"{base}/ui/models/reg-flow/versions/1/plots/nope.html", timeout=30)
    assert [v["candidate_id"] for v in versions] == [tc.candidate_id]
    lineage = version["lineage"]
    assert version["status"] == "reviewed" and lineage["artifact_verified"] and lineage["card_problems"] == []
    assert (lineage["manifest"], lineage["dataset_digest"]) == (tc.manifest.uri, tc.dataset_digest)
    assert lineage["params"] == tc.params and lineage["study_id"] == tc.study_id
    assert version["tracking"]["wandb"]["linked"] is False  # no WANDB_API_KEY: recorded, no network call
    report = version["evaluation"]
    assert report["metrics"]["n"] == sum(map(sum, report["metrics"]["confusion_matrix"])) > 0
    assert set(report["slices"]) == {"channel", "region"}
    for column in report["slices"].values():
        assert sum(g["n"] for g in column["groups"].values()) == report["metrics"]["n"]
    assert version["approvals"]["dev"]["status"] == "approved" and version["approvals"]["dev"]["automatic"]
    assert version["approvals"]["staging"]["status"] == "pending"
    # dev serves the verified copy in the dev bucket, byte for byte the registered artifact
    assert alias["version"] == 1 and alias["artifact"]["bucket"] == world.topology.buckets["dev"]
    assert alias["artifact"]["key"] == "models/reg-flow/v1/model.pt"
    assert sha256_of(S3Location(**alias["artifact"]).uri) == tc.artifact_sha256 == alias["artifact_sha256"]
    assert alias["transformer"] and alias["reference"] and alias["model_card"]
    assert [(e["action"], e["from_version"], e["to_version"], e["actor"]) for e in ledger] == [
        ("promote", None, 1, "registry")
    ]
    assert board[0]["version"] == 1 and board[0]["serving"] == ["dev"]
    # the study's plots: listed on the version page, served through a presigned link
    assert "plots/optimization_history.html" in page
    assert shown.status_code == 200 and shown.text == "<html>optuna history</html>"
    assert missing.status_code == 404
    seen = _types(capture, "reg-flow")
    for kind in ("model.registered", "model.evaluated", "model.approved", "model.promoted", "model.approval_requested"):
        assert kind in seen, seen
    promoted = next(e for e in capture.seen if e.type == "model.promoted" and e.payload.model_name == "reg-flow")
    assert promoted.correlation_id == envelope.correlation_id  # the story of the data set goes on
    requested = next(e for e in capture.seen if e.type == "model.approval_requested")
    assert requested.payload.environment == "staging"
    assert requested.payload.approval_url == "https://mlops.example.com/ui/models/reg-flow/versions/1#approval-staging"


def test_a_second_candidate_is_compared_with_the_champion_on_both_test_sets(
    world_env: World, start_registry: StartRegistry, capture: Capture
) -> None:
    world = world_env
    first = clone(world, world.candidates[0], "reg-compare")
    second = clone(world, world.candidates[1], "reg-compare")  # trained on the other data set
    with start_registry() as base:
        send(world, first)
        capture.wait_for(lambda e: e.type == "model.promoted" and e.payload.model_name == "reg-compare", timeout=120)
        send(world, second)
        capture.wait_for(lambda e: e.type == "model.evaluated" and e.payload.version == 2, timeout=120)
        report = api(base, "GET", "/v1/models/reg-compare/versions/2").json()["evaluation"]
        compare = api(base, "GET", "/v1/models/reg-compare/compare", params={"a": 2, "b": 1}).json()
        v1 = version_of(base, "reg-compare", first.candidate_id)
    assert v1 is not None and v1["version"] == 1
    (comparison,) = report["comparisons"]
    assert comparison["champion_version"] == 1 and comparison["environments"] == ["dev"]
    own, theirs = f"tickets-b@{second.version}", f"tickets@{first.version}"
    assert [t["testset"] for t in comparison["testsets"]] == [own, theirs]
    for row in comparison["testsets"]:
        boot = row["bootstrap"]["macro_f1"]
        assert boot["low"] <= boot["difference"] <= boot["high"]
        assert 0 <= row["mcnemar"]["p_value"] <= 1
        assert row["bootstrap"]["accuracy"]["difference"] == pytest.approx(
            row["candidate"]["accuracy"] - row["champion"]["accuracy"]
        )
    assert set(report["on_testsets"]) == {own, theirs}
    assert [t["testset"] for t in compare["comparison"]] == [own, theirs]
    # The data sets were recorded from their manifests (no dataset.prepared was sent in this test).


def test_refusals_are_recorded_and_announced(world_env: World, start_registry: StartRegistry, capture: Capture) -> None:
    world = world_env
    unknown = clone(world, world.candidates[0], "reg-refused").model_copy(
        update={
            "version": "0" * 16,
            "manifest": S3Location(bucket=world.topology.home_bucket, key="processed/x/none/manifest.json"),
        }
    )
    tampered = clone(world, world.candidates[0], "reg-refused")
    boto("s3").put_object(Bucket=tampered.artifact.bucket, Key=tampered.artifact.key, Body=b"not the model")
    with start_registry() as base:
        send(world, unknown)
        send(world, tampered)
        capture.wait_for(lambda e: e.type == "model.rejected" and e.payload.model_name == "reg-refused", want=2)
        capture.wait_for(lambda e: e.type == "model.integrity_failed")
        versions = {v["candidate_id"]: v for v in api(base, "GET", "/v1/models/reg-refused").json()["versions"]}
        pages = [api(base, "GET", f"/ui/models/reg-refused{p}") for p in ("", "/versions/1", "/versions/2")]
        unknown_page = api(base, "GET", "/ui/models/reg-refused/versions/9")
        approve = api(
            base,
            "POST",
            "/v1/models/reg-refused/versions/1/approve",
            "ana-approver-token-0001",
            json={"environment": "dev", "reason": "try anyway"},
        )
    assert [p.status_code for p in pages] == [200, 200, 200] and unknown_page.status_code == 404
    assert "unknown to the registry" in pages[1].text + pages[2].text
    assert versions[unknown.candidate_id]["status"] == "rejected"
    assert "unknown to the registry" in versions[unknown.candidate_id]["status_reason"]
    assert versions[tampered.candidate_id]["status"] == "integrity_failed"
    assert approve.status_code == 409
    failed = next(e for e in capture.seen if e.type == "model.integrity_failed")
    assert (
        failed.payload.expected_sha256 == tampered.artifact_sha256
        and failed.payload.actual_sha256 != tampered.artifact_sha256
    )
    registered = [e for e in capture.seen if e.type == "model.registered" and e.payload.model_name == "reg-refused"]
    assert {e.payload.status for e in registered} == {"rejected", "integrity_failed"}


def test_a_champion_whose_artifact_changed_fails_the_gate_and_is_alerted(
    world_env: World, start_registry: StartRegistry, capture: Capture, tmp_path: Path
) -> None:
    world = world_env
    first = clone(world, world.candidates[0], "reg-champion")
    second = clone(world, world.candidates[1], "reg-champion")
    with start_registry():
        send(world, first)
        capture.wait_for(lambda e: e.type == "model.promoted" and e.payload.model_name == "reg-champion", timeout=120)
    boto("s3").put_object(Bucket=first.artifact.bucket, Key=first.artifact.key, Body=b"changed after promotion")
    time.sleep(1.5)  # the stopped app's last long poll (1 s) would take the next message for a visibility timeout
    # another replica, without the first one's verified local copy, reviews the next candidate
    with start_registry(REGISTRY_CACHE_DIR=str(tmp_path / "other-cache")) as base:
        send(world, second)
        capture.wait_for(lambda e: e.type == "model.evaluated" and e.payload.model_name == "reg-champion", want=2)
        v1 = api(base, "GET", "/v1/models/reg-champion/versions/1").json()
        v2 = api(base, "GET", "/v1/models/reg-champion/versions/2").json()
        dev = api(base, "GET", "/v1/models/reg-champion/aliases/dev").json()
    alerts = [
        e for e in capture.poll(2) if e.type == "model.integrity_failed" and e.payload.model_name == "reg-champion"
    ]
    assert [(a.payload.version, a.payload.expected_sha256) for a in alerts] == [(1, first.artifact_sha256)]
    assert v1["status"] == "integrity_failed"
    (gate,) = [g for g in v2["approvals"]["dev"]["gates"]["gates"] if g["name"] == "beats_champion"]
    assert not gate["passed"] and "v1 failed its integrity check" in gate["detail"]
    assert v2["approvals"]["dev"]["status"] == "pending" and v2["evaluation"]["comparisons"] == []
    assert dev["version"] == 1  # the verified copy in the dev bucket still serves; nobody promoted blindly
