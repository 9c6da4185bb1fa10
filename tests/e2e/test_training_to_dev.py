"""From a raw file to a model served in dev, through the real prep, trainer and registry apps and their queues:
the registry registers what the real trainer publishes, reviews it, approves it by policy and promotes it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from shared.datasets import mapping_to_metadata
from shared.demo.data import support_tickets_csv
from shared.events import ColumnMapping, S3Location
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture, subscribe_capture
from tests.integration.registry.conftest import FAST, TOKENS, sha256_of
from tests.integration.trainer.conftest import TINY_ENV
from tests.support.servers import running

pytestmark = pytest.mark.e2e
MAPPING = ColumnMapping(
    format="csv", has_header=True, text_column="text", label_column="label", slice_columns=("channel", "region")
)


@pytest.fixture
def stack(topology: Topology, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The registry's policy for tiny models (FAST): the point here is the chain, not the model's quality.
    env = {**TINY_ENV, **FAST, "PREP_MIN_PER_CLASS": "2", "REGISTRY_TOKENS": json.dumps(TOKENS)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from services.prep.app import app as prep
    from services.registry.app import app as registry
    from services.trainer.app import app as trainer

    with running(prep), running(trainer), running(registry) as base:
        yield base


def test_a_raw_file_becomes_a_reviewed_model_served_in_dev(topology: Topology, stack: str) -> None:
    capture: Capture = subscribe_capture(topology)
    metadata = mapping_to_metadata(MAPPING, correlation_id="cid-e2e-registry", upload_id="u-e2e")
    boto("s3").put_object(
        Bucket=topology.home_bucket, Key="raw/support/tickets.csv", Body=support_tickets_csv(400, 3), Metadata=metadata
    )
    (promoted,) = capture.wait_for(lambda e: e.type == "model.promoted", timeout=600)
    name = promoted.payload.model_name  # type: ignore[attr-defined]
    version = httpx.get(f"{stack}/v1/models/{name}/versions/1", timeout=30).json()
    alias = httpx.get(f"{stack}/v1/models/{name}/aliases/dev", timeout=30).json()
    kinds = [e.type for e in capture.seen]
    for kind in ("dataset.prepared", "training.completed", "model.registered", "model.evaluated", "model.approved"):
        assert kind in kinds
    assert promoted.correlation_id == "cid-e2e-registry"  # one story from the upload to the served model
    assert version["status"] == "reviewed" and version["lineage"]["card_problems"] == []
    assert version["lineage"]["dataset_recorded_from"] == "event"
    assert version["approvals"]["dev"]["automatic"] and version["evaluation"]["slices"]
    assert sha256_of(S3Location(**alias["artifact"]).uri) == version["lineage"]["artifact_sha256"]
