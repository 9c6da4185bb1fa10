"""End to end, the data slice: an upload through ingest and a plain S3 drop both become prepared corpora, driven
only by S3 notifications and SNS/SQS events, and ingest's status view follows them from the events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.datasets import Manifest, corpus_key
from shared.demo.data import rows
from shared.topology import Topology
from tests.conftest import boto
from tests.support.pipeline import upload_tickets
from tests.support.servers import running, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def slice_urls(topology: Topology) -> Iterator[dict[str, str]]:
    from services.ingest.app import app as ingest_app
    from services.prep.app import app as prep_app

    with running(prep_app) as prep, running(ingest_app) as ingest:
        yield {"prep": prep, "ingest": ingest}


def _prepared_version(ingest: str, dataset: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{ingest}/v1/datasets/{dataset}", timeout=10)
    if answer.status_code != 200:
        return None
    versions = [v for v in answer.json()["versions"] if v.get("manifest")]
    return versions[-1] if versions else None


def _manifest(topology: Topology, uri: str) -> Manifest:
    key = uri.split("/", 3)[3]
    return Manifest.model_validate_json(boto("s3").get_object(Bucket=topology.home_bucket, Key=key)["Body"].read())


def _corpus_lines(topology: Topology, manifest: Manifest, split: str) -> list[str]:
    key = corpus_key(manifest.dataset, manifest.version, split)
    body = boto("s3").get_object(Bucket=topology.home_bucket, Key=key)["Body"].read().decode()
    return body.splitlines()


def test_upload_through_ingest_becomes_prepared_corpora(topology: Topology, slice_urls: dict[str, str]) -> None:
    dataset = f"tickets-{uuid.uuid4().hex[:6]}"
    upload_tickets(slice_urls["ingest"], dataset, seed=3)
    version = wait_until(lambda: _prepared_version(slice_urls["ingest"], dataset), timeout=90, what="prepared")
    manifest = _manifest(topology, version["manifest"])
    counts = {split: len(_corpus_lines(topology, manifest, split)) for split in ("train", "dev", "test")}
    assert counts == {split: manifest.splits[split].total for split in counts}
    assert sum(counts.values()) + sum(manifest.rows_dropped.values()) == manifest.rows_in == 400
    assert manifest.slice_columns == ["channel", "region"]
    assert all(line.startswith("__label__") for line in _corpus_lines(topology, manifest, "train"))


def test_plain_s3_drop_without_metadata_is_detected_and_prepared(
    topology: Topology, slice_urls: dict[str, str]
) -> None:
    # A tab-separated file without a header, as teams export them: label<TAB>text, odd line terminators.
    dataset = f"drop-{uuid.uuid4().hex[:6]}"
    lines = [f"{r['label']}\t{r['text']}" for r in rows(300, 11)]
    body = ("\r\n".join(lines[:150]) + "\n" + "\r".join(lines[150:]) + "\n").encode()
    boto("s3").put_object(Bucket=topology.home_bucket, Key=f"raw/{dataset}/export 2026 é.tsv", Body=body)
    version = wait_until(lambda: _prepared_version(slice_urls["ingest"], dataset), timeout=90, what="prepared")
    manifest = _manifest(topology, version["manifest"])
    assert sorted(manifest.labels) == ["billing", "shipping", "technical"]
    assert manifest.rows_in == 300
    kept = sum(split.total for split in manifest.splits.values())
    assert kept + sum(manifest.rows_dropped.values()) == 300
    # Raw data is never deleted: the dropped file is still where the user put it.
    boto("s3").head_object(Bucket=topology.home_bucket, Key=f"raw/{dataset}/export 2026 é.tsv")
