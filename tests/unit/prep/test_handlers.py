"""The handler through the message bus, with in-memory fakes of the store, publisher and idempotency store."""

from __future__ import annotations

import json

from shared.datasets import Manifest, mapping_to_metadata
from shared.events import ColumnMapping, DatasetPrepared, DatasetRejected
from tests.support.textdata import tickets, to_csv, to_tsv
from tests.unit.prep.conftest import BUCKET, Prep

TSV_MAPPING = ColumnMapping(format="tsv", has_header=False, text_column="1", label_column="0")


async def test_a_data_file_with_metadata_is_prepared_and_the_manifest_is_written_last(prep: Prep) -> None:
    metadata = mapping_to_metadata(TSV_MAPPING, correlation_id="cid-42", upload_id="u1")
    event = prep.put("raw/sms/u1/spam file.tsv", to_tsv(tickets(300), label_first=True), metadata)
    await prep.bus.dispatch(event)
    (envelope,) = prep.events("dataset.prepared")
    prepared = envelope.payload_as(DatasetPrepared)
    assert envelope.correlation_id == "cid-42"
    assert prepared.dataset == "sms" and prepared.rows_in == 300
    assert sum(s.total for s in prepared.splits.values()) == 300
    assert prep.store.writes[-1] == prepared.manifest.key == f"processed/sms/{prepared.version}/manifest.json"
    manifest = Manifest.model_validate_json(prep.store.objects[(BUCKET, prepared.manifest.key)][0])
    assert manifest.mapping == TSV_MAPPING.model_copy(update={"slice_columns": ()})
    assert set(manifest.files) == {"train", "dev", "test"} and manifest.code_version == "test"
    job = await prep.deps.jobs.get(_job_id(event))
    assert job is not None and job["status"] == "prepared" and job["version"] == prepared.version


async def test_redelivery_and_the_same_bytes_elsewhere_create_nothing_new(prep: Prep) -> None:
    data = to_csv(tickets(200))
    event = prep.put("raw/tickets/a.csv", data)
    await prep.bus.dispatch(event)
    await prep.bus.dispatch(event)  # a redelivered notification: the bus has the work recorded as done
    writes = list(prep.store.writes)
    assert len(prep.events("dataset.prepared")) == 1
    await prep.bus.dispatch(prep.put("raw/tickets/copy of a.csv", data))  # same bytes, another object
    assert prep.store.writes == writes  # the version exists: nothing written
    first, second = (e.payload_as(DatasetPrepared) for e in prep.events("dataset.prepared"))
    assert first.version == second.version and second.source.key == "raw/tickets/copy of a.csv"


async def test_schema_files_are_skipped_and_their_mapping_is_used(prep: Prep) -> None:
    schema = ColumnMapping(format="tsv", has_header=False, text_column="1", label_column="0")
    await prep.bus.dispatch(prep.put("raw/sms/_schema.json", schema.model_dump_json().encode()))
    assert prep.publisher.published == []
    await prep.bus.dispatch(prep.put("raw/sms/data.tsv", to_tsv(tickets(100), label_first=True)))
    manifest_key = prep.events("dataset.prepared")[0].payload_as(DatasetPrepared).manifest.key
    manifest = json.loads(prep.store.objects[(BUCKET, manifest_key)][0])
    assert manifest["mapping"]["text_column"] == "1"


async def test_a_bad_file_is_quarantined_with_its_reason_and_raw_stays(prep: Prep) -> None:
    data = to_tsv([{"text": f"all the same label {i}", "label": "spam"} for i in range(30)])
    await prep.bus.dispatch(prep.put("raw/sms/one class.tsv", data))
    (envelope,) = prep.events("dataset.rejected")
    rejected = envelope.payload_as(DatasetRejected)
    assert rejected.reason == "only one class: 'spam'"
    assert rejected.quarantine is not None and rejected.quarantine.key == "quarantine/sms/one class.tsv"
    assert prep.store.objects[(BUCKET, "quarantine/sms/one class.tsv")][0] == data
    assert prep.store.objects[(BUCKET, "raw/sms/one class.tsv")][0] == data
    reason = json.loads(prep.store.objects[(BUCKET, "quarantine/sms/one class.tsv.reason.json")][0])
    assert reason["reason"] == rejected.reason and reason["stats"]["rows_in"] == 30
    assert prep.keys("processed/") == []


async def test_invalid_dataset_names_and_unsupported_types_are_rejected(prep: Prep) -> None:
    await prep.bus.dispatch(prep.put("raw/bad name!/x.csv", to_csv(tickets(50))))
    await prep.bus.dispatch(prep.put("raw/sms/archive.zip", b"PK\x03\x04"))
    reasons = [e.payload_as(DatasetRejected).reason for e in prep.events("dataset.rejected")]
    assert reasons[0] == "the key names no valid data set" and reasons[1].startswith("unsupported file type .zip")


async def test_an_object_gone_before_handling_is_skipped(prep: Prep) -> None:
    from tests.unit.prep.conftest import created

    event = created("raw/sms/vanished.csv")
    await prep.bus.dispatch(event)
    assert prep.publisher.published == []
    job = await prep.deps.jobs.get(_job_id(event))
    assert job is not None and job["status"] == "skipped"


def _job_id(event: object) -> str:
    from services.prep.jobs import job_id

    return job_id(event)  # type: ignore[arg-type]
