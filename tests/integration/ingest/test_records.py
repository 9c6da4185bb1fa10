"""Data set records built from real domain events: envelopes published to the SNS topic reach ingest's queue and
change what `GET /v1/datasets` says."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.events import (
    DatasetPrepared,
    DatasetRejected,
    Envelope,
    EventPayload,
    ModelPromoted,
    ModelRegistered,
    S3Location,
    SplitCounts,
    TrainingStarted,
)
from shared.publisher import message_attributes
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.ingest.conftest import topic_arn
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration
VERSION = "v-20260101-abc123"


def _publish(topology: Topology, payload: EventPayload, correlation_id: str, source: str) -> Envelope:
    envelope = Envelope.wrap(payload, source=source, correlation_id=correlation_id)
    boto("sns").publish(
        TopicArn=topic_arn(topology), Message=envelope.model_dump_json(), MessageAttributes=message_attributes(envelope)
    )
    return envelope


def _dataset(url: str, name: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{url}/v1/datasets/{name}")
    return answer.json() if answer.status_code == 200 else None


def _version_at(url: str, name: str, stage: str) -> dict[str, Any] | None:
    view = _dataset(url, name)
    versions = [v for v in (view or {}).get("versions", []) if v["stage"] == stage]
    return versions[0] if versions else None


def test_status_follows_the_events_of_every_stage(ingest_url: str, topology: Topology) -> None:
    files = {"file": ("tickets.csv", b"text,label\nmy parcel is late,shipping\ndouble charge,billing\n", "text/csv")}
    receipt = httpx.post(f"{ingest_url}/v1/datasets/tickets/files", files=files).json()
    bucket, cid = topology.home_bucket, receipt["correlation_id"]
    raw = S3Location(bucket=bucket, key=receipt["key"], version_id=receipt["version_id"])
    manifest = S3Location(bucket=bucket, key=f"processed/tickets/{VERSION}/manifest.json")
    splits = {"train": SplitCounts(total=1, per_label={"shipping": 1}), "test": SplitCounts(total=1, per_label={})}
    prepared = DatasetPrepared(
        dataset="tickets",
        version=VERSION,
        source=raw,
        manifest=manifest,
        labels=["billing", "shipping"],
        splits=splits,
        input_sha256="i",
        output_digest="o",
        rows_in=2,
    )
    _publish(topology, prepared, cid, "prep")
    version = wait_until(lambda: _version_at(ingest_url, "tickets", "dataset.prepared"), what="prepared version")
    assert version["uploads"] == [receipt["upload_id"]] and version["splits"]["train"]["total"] == 1

    artifact = S3Location(bucket=bucket, key="models/tickets-clf/1/model.pt")
    started = TrainingStarted(
        study_id="s1", dataset="tickets", version=VERSION, manifest=manifest, n_trials=2, backend="local"
    )
    _publish(topology, started, "cid-of-the-manifest", "trainer")
    registered = ModelRegistered(
        model_name="tickets-clf",
        version=1,
        candidate_id="c1",
        artifact=artifact,
        artifact_sha256="h",
        dataset="tickets",
        dataset_version=VERSION,
        study_id="s1",
    )
    _publish(topology, registered, "cid-of-the-manifest", "registry")
    promoted = ModelPromoted(
        model_name="tickets-clf",
        version=1,
        environment="staging",
        artifact=artifact,
        artifact_sha256="h",
        actor="ana",
        reason="gates passed",
    )
    _publish(topology, promoted, "cid-of-an-approval", "registry")  # names no data set: linked by lineage

    version = wait_until(lambda: _version_at(ingest_url, "tickets", "model.promoted"), what="promoted version")
    assert [s["type"] for s in version["steps"]][-3:] == ["training.started", "model.registered", "model.promoted"]
    assert version["models"] == ["tickets-clf:1"]
    view = _dataset(ingest_url, "tickets")
    assert view is not None
    (upload,) = view["uploads"]
    assert upload["stage"] == "model.promoted" and upload["versions"] == [VERSION]
    (summary,) = httpx.get(f"{ingest_url}/v1/datasets").json()
    assert summary["dataset"] == "tickets" and summary["latest_version"] == VERSION
    assert summary["stage"] == "model.promoted"


def test_files_dropped_into_raw_show_up_through_prep_events(ingest_url: str, topology: Topology) -> None:
    dropped = S3Location(bucket=topology.home_bucket, key="raw/sms/2026 batch é.tsv", etag="e1")
    rejected = DatasetRejected(dataset="sms", source=dropped, reason="only one class", details=["ham: 12"])
    _publish(topology, rejected, "cid-of-the-drop", "prep")

    def rejected_upload() -> dict[str, Any] | None:
        view = _dataset(ingest_url, "sms")
        uploads = view["uploads"] if view else []
        return uploads[0] if uploads and uploads[0]["steps"] else None

    upload = wait_until(rejected_upload, what="the dropped file's record")
    assert (upload["source"], upload["filename"], upload["stage"], upload["ok"]) == (
        "s3",
        "2026 batch é.tsv",
        "dataset.rejected",
        False,
    )
    assert upload["steps"][0]["detail"]["reason"] == "only one class"
    assert upload["uri"] == f"s3://{topology.home_bucket}/raw/sms/2026 batch é.tsv"
