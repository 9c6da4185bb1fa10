"""Prep through the running app and real S3 notifications on the moto server: good files become corpora, bad files
are quarantined with a reason, odd but valid files are read right."""

from __future__ import annotations

import codecs
import json

import pytest

from shared.datasets import SCHEMA_FILE, mapping_to_metadata
from shared.events import ColumnMapping, DatasetPrepared, DatasetRejected
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.prep.conftest import Capture, StartPrep, get_json, get_text, keys_under, put_raw
from tests.support.textdata import tickets, to_csv, to_tsv, with_duplicates

pytestmark = pytest.mark.integration
TSV_LABEL_FIRST = ColumnMapping(format="tsv", has_header=False, text_column="1", label_column="0")


def _prepared(capture: Capture, key: str) -> DatasetPrepared:
    (event,) = capture.wait_for(
        lambda e: getattr(e.payload, "source", None) is not None and e.payload.source.key == key
    )
    assert event.type == "dataset.prepared", event.payload
    return event.payload_as(DatasetPrepared)


def test_upload_with_mapping_metadata_becomes_corpora(
    start_prep: StartPrep, topology: Topology, capture: Capture
) -> None:
    key = "raw/sms/u-1/spam collection ünïcode + more.tsv"
    records = tickets(400)
    metadata = mapping_to_metadata(TSV_LABEL_FIRST, correlation_id="cid-prep-1", upload_id="u-1")
    put_raw(topology, key, to_tsv(records, label_first=True, newline="\r\n"), metadata)
    with start_prep():
        prepared = _prepared(capture, key)
    envelope = capture.about(key)[0]
    assert envelope.correlation_id == "cid-prep-1" and envelope.source == "prep"
    assert (
        prepared.rows_in == 400
        and sum(s.total for s in prepared.splits.values()) + sum(prepared.rows_dropped.values()) == 400
    )
    prefix = f"processed/sms/{prepared.version}/"
    assert keys_under(topology, prefix) == [
        prefix + f for f in ("dev.txt", "manifest.json", "test.txt", "train.txt", "transformer.json")
    ]
    manifest = get_json(topology, prefix + "manifest.json")
    assert manifest["source"]["key"] == key and manifest["source"]["version_id"] and manifest["source"]["etag"]
    assert manifest["mapping"]["text_column"] == "1" and manifest["encoding"] == "utf-8"
    train = get_text(topology, prefix + "train.txt").splitlines()
    assert len(train) == manifest["files"]["train"]["rows"] == prepared.splits["train"].total
    assert all(line.startswith(("__label__billing ", "__label__technical ", "__label__shipping ")) for line in train)
    assert get_json(topology, prefix + "transformer.json")["labels"] == prepared.labels


def test_dropped_without_metadata_is_detected_and_the_schema_file_is_used(
    start_prep: StartPrep, topology: Topology, capture: Capture
) -> None:
    put_raw(topology, "raw/tickets/drop.csv", to_csv(tickets(300)))
    put_raw(topology, f"raw/headerless/{SCHEMA_FILE}", TSV_LABEL_FIRST.model_dump_json().encode())
    put_raw(topology, "raw/headerless/data.txt", to_tsv(tickets(300), label_first=True))
    with start_prep():
        detected = _prepared(capture, "raw/tickets/drop.csv")
        from_schema = _prepared(capture, "raw/headerless/data.txt")
    assert get_json(topology, detected.manifest.key)["mapping"]["text_column"] == "text"
    assert get_json(topology, from_schema.manifest.key)["mapping"]["label_column"] == "0"
    assert capture.about(f"raw/headerless/{SCHEMA_FILE}") == []  # the schema file itself is not a data set


BAD = {
    "empty.csv": (b"", None, "empty file"),
    "header only.csv": (b"text,label\n", None, "no data rows"),
    "one class.tsv": (
        to_tsv([{"text": f"win cash now {i}", "label": "spam"} for i in range(40)]),
        None,
        "only one class: 'spam'",
    ),
    "garbage.csv": (bytes(range(256)) * 64, None, "binary content, not text"),
    "unknown columns.csv": (
        to_csv(tickets(50)),
        ColumnMapping(text_column="body", label_column="label"),
        "the mapping names a column the file does not have",
    ),
}


def test_bad_files_are_quarantined_with_a_reason_and_raw_data_stays(
    start_prep: StartPrep, topology: Topology, capture: Capture
) -> None:
    for name, (data, mapping, _) in BAD.items():
        metadata = mapping_to_metadata(mapping, correlation_id=f"cid-{name}", upload_id="u") if mapping else None
        put_raw(topology, f"raw/bad/{name}", data, metadata)
    with start_prep():
        capture.wait_for(lambda e: e.type == "dataset.rejected", want=len(BAD))
    for name, (data, _, reason) in BAD.items():
        (event,) = capture.about(f"raw/bad/{name}")
        rejected = event.payload_as(DatasetRejected)
        assert rejected.reason == reason, (name, rejected)
        assert rejected.quarantine is not None and rejected.quarantine.key == f"quarantine/bad/{name}"
        assert get_json(topology, f"quarantine/bad/{name}.reason.json")["reason"] == reason
        raw = boto("s3").get_object(Bucket=topology.home_bucket, Key=f"raw/bad/{name}")["Body"].read()
        assert raw == data  # raw data is never deleted or changed
        quarantined = boto("s3").get_object(Bucket=topology.home_bucket, Key=f"quarantine/bad/{name}")["Body"].read()
        assert quarantined == data
    assert keys_under(topology, "processed/bad/") == []


def test_odd_but_valid_files_are_read_right(start_prep: StartPrep, topology: Topology, capture: Capture) -> None:
    phrases = ["Très bon café numéro {}", "Déçu, vraiment déçu, numéro {}", "À éviter: numéro {}", "Génial, numéro {}"]
    latin = "".join(f"{phrases[i % 4].format(i)}\t{'pos' if i % 2 else 'neg'}\n" for i in range(60))
    quoted = b"text,label\n" + b"".join(
        f'"line one {i}\r\nline, two",{"a" if i % 2 else "b"}\r\n'.encode() for i in range(60)
    )
    long_line = b"".join(f"ordinary text {i}\t{'x' if i % 2 else 'y'}\n".encode() for i in range(60))
    long_line += b"z" * (50 * 1024 * 1024) + b"\tx\n"
    dupes = to_csv(with_duplicates(tickets(70_000), 0.3))
    files = {
        "latin1.txt": codecs.encode(latin, "latin-1"),
        "quoted.csv": quoted,
        "long line.tsv": long_line,
        "dupes.csv": dupes,
    }
    for name, data in files.items():
        put_raw(topology, f"raw/odd/{name}", data)
    with start_prep():
        got = {name: _prepared(capture, f"raw/odd/{name}") for name in files}
    latin_train = get_text(topology, got["latin1.txt"].manifest.key.replace("manifest.json", "train.txt"))
    assert (
        "Très bon café numéro" in latin_train
        and get_json(topology, got["latin1.txt"].manifest.key)["encoding"] == "cp1252"
    )
    quoted_train = get_text(topology, got["quoted.csv"].manifest.key.replace("manifest.json", "train.txt"))
    assert "line one 1 line, two" in quoted_train
    assert got["quoted.csv"].rows_in == 60 and got["quoted.csv"].rows_dropped == {}
    assert got["long line.tsv"].rows_dropped == {"line_too_long": 1} and got["long line.tsv"].rows_in == 61
    assert got["dupes.csv"].rows_in == 100_000 and got["dupes.csv"].rows_dropped == {"duplicate": 30_000}
    splits = got["dupes.csv"].splits
    assert sum(s.total for s in splits.values()) == 70_000
    assert json.loads(json.dumps(got["dupes.csv"].labels)) == ["billing", "shipping", "technical"]
