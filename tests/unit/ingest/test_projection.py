"""The data set records: events of any stage, in any order, linked to their data set, upload and version."""

from __future__ import annotations

import random
from typing import ClassVar

from services.ingest.handlers import handler_table, recorded_types
from services.ingest.projection import Projection
from services.ingest.readmodel import dataset_summaries, dataset_view
from services.ingest.records import MemoryRecordStore
from shared.bus import MessageBus
from shared.events import (
    ColumnMapping,
    DatasetIngested,
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
from shared.idempotency import MemoryIdempotencyStore
from shared.publisher import MemoryPublisher
from shared.settings import CommonSettings
from shared.topology import Topology

BUCKET = "mlops-dev"
UPLOAD = "20260101T120000Z-0a1b2c3d"
KEY = f"raw/tickets/{UPLOAD}/tickets.csv"
VERSION = "v-3f2a"


class ModelRetired(EventPayload):
    """A stage that does not exist yet: the records must show it without any change."""

    event_type: ClassVar[str] = "model.retired"
    model_name: str
    version: int
    reason: str


def _loc(key: str) -> S3Location:
    return S3Location(bucket=BUCKET, key=key)


def _lifecycle() -> list[Envelope]:
    """One data set's story, in the order it happened; correlation ids change where real services change them."""
    artifact = _loc("models/tickets-clf/1/model.pt")
    manifest = _loc(f"processed/tickets/{VERSION}/manifest.json")
    splits = {"train": SplitCounts(total=8, per_label={"a": 4, "b": 4}), "test": SplitCounts(total=2, per_label={})}
    steps: list[tuple[EventPayload, str, str]] = [
        (
            DatasetIngested(
                dataset="tickets",
                upload_id=UPLOAD,
                source="upload",
                location=_loc(KEY),
                size_bytes=120,
                filename="tickets.csv",
                mapping=ColumnMapping(format="csv", text_column="text"),
            ),
            "ingest",
            "c-upload",
        ),
        (
            DatasetPrepared(
                dataset="tickets",
                version=VERSION,
                source=_loc(KEY),
                manifest=manifest,
                labels=["a", "b"],
                splits=splits,
                input_sha256="in",
                output_digest="out",
                rows_in=10,
            ),
            "prep",
            "c-upload",
        ),
        (
            TrainingStarted(
                study_id="s1", dataset="tickets", version=VERSION, manifest=manifest, n_trials=2, backend="local"
            ),
            "trainer",
            "c-manifest",
        ),
        (
            ModelRegistered(
                model_name="tickets-clf",
                version=1,
                candidate_id="cand",
                artifact=artifact,
                artifact_sha256="abc",
                dataset="tickets",
                dataset_version=VERSION,
                study_id="s1",
            ),
            "registry",
            "c-manifest",
        ),
        (
            ModelPromoted(
                model_name="tickets-clf",
                version=1,
                environment="staging",
                artifact=artifact,
                artifact_sha256="abc",
                actor="ana",
                reason="gates passed",
            ),
            "registry",
            "c-approval",  # a person's approval starts a new story: linked by the model's lineage only
        ),
        (ModelRetired(model_name="tickets-clf", version=1, reason="superseded"), "registry", "c-later"),
    ]
    return [Envelope.wrap(payload, source=source, correlation_id=cid) for payload, source, cid in steps]


async def test_every_stage_lands_on_its_upload_and_version_in_any_order() -> None:
    store = MemoryRecordStore()
    projection = Projection(store)
    story = _lifecycle()
    arrivals = story[:]
    random.Random(3).shuffle(arrivals)
    for envelope in arrivals + arrivals[:2]:  # with two redeliveries
        await projection.record(envelope)

    view = await dataset_view(store, "tickets")
    assert view is not None
    expected = [e.type for e in story]
    (upload,) = view.uploads
    (version,) = view.versions
    assert [s.type for s in version.steps] == expected  # a version's story starts with its upload
    assert [s.type for s in upload.steps] == expected
    assert upload.upload_id == UPLOAD and upload.source == "upload" and upload.versions == [VERSION]
    assert upload.stage == version.stage == view.stage == "model.retired"
    assert version.models == ["tickets-clf:1"] and version.uploads == [UPLOAD]
    assert version.labels == ["a", "b"] and version.splits["train"]["per_label"] == {"a": 4, "b": 4}
    assert version.manifest == f"s3://{BUCKET}/processed/tickets/{VERSION}/manifest.json"
    assert view.latest_version == VERSION and view.ok
    promoted = next(s for s in version.steps if s.type == "model.promoted")
    assert promoted.detail["environment"] == "staging" and promoted.detail["artifact"].startswith("s3://")


async def test_a_file_dropped_into_raw_appears_when_prep_reports_on_it() -> None:
    store = MemoryRecordStore()
    projection = Projection(store)
    dropped = _loc("raw/tickets/batch 7.csv").model_copy(update={"etag": "e1"})
    rejected = DatasetRejected(dataset="tickets", source=dropped, reason="only one class", details=["label: a"])
    await projection.record(Envelope.wrap(rejected, source="prep", correlation_id="c-drop"))

    view = await dataset_view(store, "tickets")
    assert view is not None and view.latest_version is None and not view.ok
    (upload,) = view.uploads
    assert (upload.source, upload.filename, upload.stage, upload.ok) == ("s3", "batch 7.csv", "dataset.rejected", False)
    assert upload.steps[0].detail["reason"] == "only one class"


async def test_our_own_upload_record_wins_over_the_sketch_from_a_prep_event() -> None:
    store = MemoryRecordStore()
    projection = Projection(store)
    ingested, prepared = _lifecycle()[:2]
    await projection.record(prepared)  # prep's event overtook ours
    await projection.record(ingested)
    view = await dataset_view(store, "tickets")
    assert view is not None
    (upload,) = view.uploads
    assert (upload.source, upload.size, upload.mapping) == ("upload", 120, {"format": "csv", "text_column": "text"})


async def test_other_data_sets_and_models_stay_apart() -> None:
    store = MemoryRecordStore()
    projection = Projection(store)
    for envelope in _lifecycle():
        await projection.record(envelope)
    other = ModelPromoted(
        model_name="tickets-clf",
        version=2,
        environment="prod",
        artifact=_loc("models/x"),
        artifact_sha256="d",
        actor="bo",
        reason="r",
    )
    await projection.record(Envelope.wrap(other, source="registry", correlation_id="c-unrelated"))
    spam = DatasetRejected(dataset="spam", source=_loc("raw/spam/a.tsv"), reason="empty")
    await projection.record(Envelope.wrap(spam, source="prep", correlation_id="c-spam"))

    view = await dataset_view(store, "tickets")
    assert view is not None
    assert all(s.detail.get("version") != 2 for v in view.versions for s in v.steps)
    summaries = {s.dataset: s for s in await dataset_summaries(store)}
    assert set(summaries) == {"tickets", "spam"}
    assert summaries["tickets"].stage == "model.retired" and summaries["tickets"].latest_version == VERSION
    assert summaries["spam"].stage == "dataset.rejected" and summaries["spam"].upload_count == 1
    assert await dataset_view(store, "unknown") is None


async def test_handler_table_records_every_data_training_and_model_event() -> None:
    queue = Topology(CommonSettings()).spec("ingest")
    types = recorded_types(queue)
    assert {"dataset.ingested", "dataset.prepared", "training.completed", "model.promoted"} <= set(types)
    assert not any(t.startswith(("notification.", "drift.", "prediction.")) for t in types)

    store = MemoryRecordStore()
    bus = MessageBus("ingest", handler_table(Projection(store), queue), MemoryPublisher(), MemoryIdempotencyStore())
    envelope = _lifecycle()[1]
    await bus.dispatch(envelope)
    await bus.dispatch(envelope)
    assert [e.type for e in store.event_rows.values()] == ["dataset.prepared"]
