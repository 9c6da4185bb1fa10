"""Registration decisions with in-memory fakes: lineage from dataset.prepared or from the manifest, refusals."""

from __future__ import annotations

import hashlib

import pytest

from services.registry.deps import RegistryDeps
from services.registry.handlers import record_dataset, register_candidate
from shared.bus import HandlerContext
from shared.events import DatasetPrepared, Envelope, S3Location, SplitCounts, TrainingCompleted
from shared.messages import PoisonMessage
from shared.publisher import MemoryPublisher
from tests.unit.registry.conftest import FakeArtifacts

MANIFEST = "s3://unit-dev/processed/d/v1/manifest.json"


def _prepared(digest: str = "digest-1") -> DatasetPrepared:
    return DatasetPrepared(
        dataset="d",
        version="v1",
        source=S3Location.parse("s3://unit-dev/raw/d/f.csv"),
        manifest=S3Location.parse(MANIFEST),
        labels=["a", "b"],
        splits={"test": SplitCounts(total=2, per_label={"a": 1, "b": 1})},
        input_sha256="x",
        output_digest=digest,
        rows_in=2,
    )


def _completed(store: FakeArtifacts, **changes: object) -> TrainingCompleted:
    sha = store.put("s3://unit-dev/models/m/c1/model.pt", b"weights")
    base = TrainingCompleted(
        study_id="s1",
        model_name="m",
        candidate_id="c1",
        dataset="d",
        version="v1",
        dataset_digest="digest-1",
        manifest=S3Location.parse(MANIFEST),
        artifact=S3Location.parse("s3://unit-dev/models/m/c1/model.pt"),
        artifact_sha256=sha,
        model_card=S3Location.parse("s3://unit-dev/models/m/c1/model_card.json"),
        experiments_prefix="experiments/s1/",
        objective="macro_f1",
        best_value=0.9,
        params={},
        dev_metrics={},
        test_metrics={},
        seed=1,
        code_version="t",
    )
    return base.model_copy(update=changes)


def _ctx() -> HandlerContext:
    return HandlerContext("registry", "key", "cid", None, MemoryPublisher())


def _event(payload: object) -> Envelope:
    return Envelope.wrap(payload, source="trainer", correlation_id="cid")  # type: ignore[arg-type]


async def test_a_known_data_set_registers_and_a_redelivery_registers_nothing_new(
    deps: RegistryDeps, store: FakeArtifacts
) -> None:
    await record_dataset(_event(_prepared()), _ctx(), deps)
    tc = _completed(store)
    first, again = _ctx(), _ctx()
    await register_candidate(_event(tc), first, deps)
    await register_candidate(_event(tc), again, deps)
    row = await deps.catalog.by_candidate("c1")
    assert row is not None and row["status"] == "registered" and row["version"] == 1
    assert row["lineage"]["artifact_verified"] and row["lineage"]["dataset_recorded_from"] == "event"
    assert row["lineage"]["card_problems"] == ["no model card at s3://unit-dev/models/m/c1/model_card.json"]
    assert [e.type for e in first.emitted] == ["model.registered"] == [e.type for e in again.emitted]
    assert len(await deps.catalog.versions("m")) == 1


@pytest.mark.parametrize(
    ("arrange", "status", "reason"),
    [
        ("nothing", "rejected", "unknown to the registry"),
        ("other digest", "rejected", "data set digest mismatch"),
        ("tampered", "integrity_failed", "the event says"),
    ],
)
async def test_unconfirmed_lineage_or_bytes_are_recorded_as_refused_and_announced(
    deps: RegistryDeps, store: FakeArtifacts, arrange: str, status: str, reason: str
) -> None:
    tc = _completed(store)
    if arrange == "other digest":
        await record_dataset(_event(_prepared("digest-2")), _ctx(), deps)
    if arrange == "tampered":
        await record_dataset(_event(_prepared()), _ctx(), deps)
        store.put(tc.artifact.uri, b"other weights")
    ctx = _ctx()
    await register_candidate(_event(tc), ctx, deps)
    row = await deps.catalog.by_candidate("c1")
    assert row is not None and row["status"] == status and reason in row["status_reason"]
    kinds = [e.type for e in ctx.emitted]
    assert kinds[0] == "model.registered" and kinds[-1] == "model.rejected"
    assert ("model.integrity_failed" in kinds) is (status == "integrity_failed")
    assert ctx.emitted[0].payload.status == status  # type: ignore[attr-defined]


async def test_an_invalid_model_name_is_poison(deps: RegistryDeps, store: FakeArtifacts) -> None:
    with pytest.raises(PoisonMessage):
        await register_candidate(_event(_completed(store, model_name="../etc")), _ctx(), deps)
    assert hashlib.sha256(b"weights").hexdigest() == _completed(store).artifact_sha256
