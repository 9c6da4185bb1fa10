"""Uploads through the real ingest app into the emulator's S3: streamed, multipart, aborted, capped, refused."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from shared.datasets import SCHEMA_FILE, mapping_from_metadata
from shared.demo.data import support_tickets_csv
from shared.events import DatasetIngested
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.ingest.conftest import MIB, Capture, StartIngest, open_multipart_uploads, raw_keys
from tests.support.servers import wait_until

pytestmark = pytest.mark.integration
MAPPING = {"format": "csv", "text_column": "text", "label_column": "label", "slice_columns": "channel,region"}


def _csv_of_size(size: int) -> bytes:
    body = support_tickets_csv(2000)
    header, rows = body.split(b"\n", 1)
    out = bytearray(header + b"\n")
    while len(out) < size:
        out += rows
    return bytes(out[:size].rsplit(b"\n", 1)[0] + b"\n")


def test_streamed_upload_lands_in_raw_with_mapping_metadata_and_is_announced(
    ingest_url: str, topology: Topology, capture: Capture
) -> None:
    data = _csv_of_size(3 * MIB)
    files = {"file": ("tickets.csv", data, "text/csv")}
    answer = httpx.post(f"{ingest_url}/v1/datasets/tickets/files", data=MAPPING, files=files, timeout=60)
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    upload_id, cid = receipt["upload_id"], receipt["correlation_id"]
    assert receipt["key"] == f"raw/tickets/{upload_id}/tickets.csv"
    assert receipt["uri"] == f"s3://{topology.home_bucket}/{receipt['key']}" and receipt["size_bytes"] == len(data)

    s3 = boto("s3")
    stored = s3.get_object(Bucket=topology.home_bucket, Key=receipt["key"], VersionId=receipt["version_id"])
    assert stored["Body"].read() == data
    mapping, provenance = mapping_from_metadata(stored["Metadata"])
    assert mapping is not None and mapping.slice_columns == ("channel", "region") and mapping.text_column == "text"
    assert provenance == {"correlation-id": cid, "upload-id": upload_id}

    (event,) = [e for e in capture.envelopes() if e.type == "dataset.ingested"]
    ingested = event.payload_as(DatasetIngested)
    assert event.correlation_id == cid and event.id == receipt["event_id"]
    assert (ingested.upload_id, ingested.location.key, ingested.size_bytes) == (upload_id, receipt["key"], len(data))
    assert ingested.location.version_id == receipt["version_id"] and ingested.mapping == mapping


def test_a_large_file_goes_up_in_parts(ingest_url: str, topology: Topology) -> None:
    data = _csv_of_size(12 * MIB)  # 5 MiB parts (the test's setting): 3 parts
    answer = httpx.post(
        f"{ingest_url}/v1/datasets/big/files", files={"file": ("big.csv", data, "text/csv")}, timeout=120
    )
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    assert receipt["etag"].endswith("-3")  # S3's ETag of a 3-part multipart upload
    stored = boto("s3").get_object(Bucket=topology.home_bucket, Key=receipt["key"])["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert open_multipart_uploads(topology, "big") == []


def _start_raw_upload(base: str, dataset: str, declared: int) -> socket.socket:
    """A client that sends the start of a multipart request by hand, so the test can hang up halfway."""
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port))
    head = (
        f"POST /v1/datasets/{dataset}/files HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {declared}\r\n\r\n"
        '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def test_an_upload_interrupted_halfway_leaves_nothing(ingest_url: str, topology: Topology) -> None:
    data = _csv_of_size(12 * MIB)
    sock = _start_raw_upload(ingest_url, "cut", declared=2 * len(data))
    try:
        sock.sendall(data)
        # The service has started a multipart upload and sent parts; now the client goes away.
        wait_until(lambda: open_multipart_uploads(topology, "cut"), timeout=60, what="a multipart upload in flight")
    finally:
        sock.close()
    wait_until(lambda: not open_multipart_uploads(topology, "cut"), timeout=30, what="the upload aborted")
    assert raw_keys(topology, "cut") == []
    assert httpx.get(f"{ingest_url}/v1/datasets/cut").status_code == 404
    assert httpx.get(f"{ingest_url}/healthz").status_code == 200


def _chunked(body: bytes) -> Iterator[bytes]:
    for i in range(0, len(body), 64 * 1024):
        yield body[i : i + 64 * 1024]


def test_size_cap(start_ingest: StartIngest, topology: Topology) -> None:
    data = _csv_of_size(7 * MIB)
    request = httpx.Request("POST", "http://x/", files={"file": ("capped.csv", data, "text/csv")})
    body, ctype = request.read(), request.headers["content-type"]
    with start_ingest(INGEST_MAX_UPLOAD_BYTES=str(6 * MIB)) as url:
        # No Content-Length (chunked): the stream is counted and cut past the cap, after a part already went up.
        answer = httpx.post(
            f"{url}/v1/datasets/capped/files", content=_chunked(body), headers={"Content-Type": ctype}, timeout=60
        )
        assert answer.status_code == 413 and "limit" in answer.json()["detail"]
        # A declared length past the cap is refused before the body is read.
        sock = _start_raw_upload(url, "capped", declared=8 * MIB)
        with sock:
            assert sock.recv(4096).startswith(b"HTTP/1.1 413")
    assert raw_keys(topology, "capped") == [] and open_multipart_uploads(topology, "capped") == []


GZIP = b"\x1f\x8b\x08\x00" + bytes(200)


BAD_INPUTS: list[tuple[str, dict[str, str], bytes, int, str]] = [
    ("bad-empty", {}, b"", 422, "empty"),
    ("bad-binary", {}, bytes(range(256)) * 64, 422, "NUL bytes"),
    ("bad-gzip", {}, GZIP, 422, "gzip"),
    ("bad-format", {"format": "xlsx"}, b"text,label\nhi,a\n", 422, "unknown format"),
    ("bad-slices", {"slice_columns": "a,,b"}, b"text,label\nhi,a\n", 422, "empty column name"),
    ("bad-columns", {"format": "csv", "text_column": "body"}, b"text,label\nhi,a\n", 422, "not in the header"),
    ("bad name!", {}, b"text,label\nhi,a\n", 422, "invalid data set name"),
    ("-leading-dash", {}, b"text,label\nhi,a\n", 422, "invalid data set name"),
    ("bad-field", {"colour": "red"}, b"text,label\nhi,a\n", 400, "unknown form field"),
]


def test_bad_inputs_are_refused_with_a_reason_and_nothing_written(ingest_url: str, topology: Topology) -> None:
    for dataset, fields, content, status, reason in BAD_INPUTS:
        files = {"file": ("input.csv", content, "text/csv")}
        answer = httpx.post(f"{ingest_url}/v1/datasets/{dataset}/files", data=fields, files=files)
        assert (answer.status_code, dataset) == (status, dataset), answer.text
        assert reason in answer.json()["detail"], (dataset, answer.text)
    assert raw_keys(topology) == [] and open_multipart_uploads(topology) == []
    assert httpx.get(f"{ingest_url}/v1/datasets").json() == []


def test_malformed_forms(ingest_url: str, topology: Topology) -> None:
    url = f"{ingest_url}/v1/datasets/forms/files"
    not_a_form = httpx.post(url, json={"file": "text,label"})
    assert not_a_form.status_code == 400 and "multipart/form-data" in not_a_form.json()["detail"]
    no_file = httpx.post(url, data={"format": "csv"}, files={"other": ("a.csv", b"text\n", "text/csv")})
    assert no_file.status_code == 400 and "named 'file'" in no_file.json()["detail"]
    # A field after the file: the file was fine but nothing may be stored with the wrong mapping.
    late = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\ntext,label\nhi,a\n\r\n'
        b'--B\r\nContent-Disposition: form-data; name="format"\r\n\r\ntsv\r\n--B--\r\n'
    )
    answer = httpx.post(url, content=late, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert answer.status_code == 400 and "after the file" in answer.json()["detail"]
    assert raw_keys(topology, "forms") == []


def test_unicode_and_spaces_in_file_names_are_kept(ingest_url: str, topology: Topology) -> None:
    files = {"file": ("../tickets été 2026.csv", b"text,label\nhi,a\nyo,b\n", "text/csv")}
    answer = httpx.post(f"{ingest_url}/v1/datasets/names/files", files=files)
    assert answer.status_code == 202, answer.text
    assert answer.json()["key"].endswith("/tickets été 2026.csv")
    assert raw_keys(topology, "names") == [answer.json()["key"]]
    reserved = httpx.post(f"{ingest_url}/v1/datasets/names/files", files={"file": (SCHEMA_FILE, b"{}", "text/csv")})
    assert reserved.status_code == 422 and "reserved" in reserved.json()["detail"]


def test_schema_file(ingest_url: str, topology: Topology) -> None:
    url = f"{ingest_url}/v1/datasets/sms/schema"
    assert httpx.get(url).status_code == 404
    mapping = {"format": "tsv", "has_header": False, "label_column": 0, "text_column": 1}
    answer = httpx.put(url, json=mapping)
    assert answer.status_code == 200, answer.text
    key = f"raw/sms/{SCHEMA_FILE}"
    assert answer.json()["uri"] == f"s3://{topology.home_bucket}/{key}"
    stored = boto("s3").get_object(Bucket=topology.home_bucket, Key=key)["Body"].read()
    assert b'"text_column": "1"' in stored
    assert httpx.get(url).json()["mapping"]["label_column"] == "0"
    bad = httpx.put(url, json={"has_header": False, "text_column": "text"})
    assert bad.status_code == 422 and "0-based index" in bad.json()["detail"]
    unicode_names = httpx.put(url, json={"text_column": "Überschrift", "label_column": "Kategorie"})
    assert unicode_names.status_code == 200
    boto("s3").put_object(Bucket=topology.home_bucket, Key=key, Body=b"not json")  # dropped by another client
    broken = httpx.get(url)
    assert broken.status_code == 409 and "not a valid column mapping" in broken.json()["detail"]


def test_service_keeps_serving_after_bad_requests(ingest_url: str) -> None:
    for _ in range(3):
        httpx.post(f"{ingest_url}/v1/datasets/x/files", content=b"garbage", headers={"Content-Type": "text/plain"})
    assert httpx.get(f"{ingest_url}/readyz").status_code == 200


def test_transfers_in_flight_are_bounded(start_ingest: StartIngest, topology: Topology) -> None:
    with start_ingest(INGEST_MAX_CONCURRENT_TRANSFERS="1") as url:
        holder = _start_raw_upload(url, "busy", declared=10 * MIB)  # takes the only slot and keeps it
        try:

            def refused() -> httpx.Response | None:
                files = {"file": ("b.csv", b"text,label\nhi,a\n", "text/csv")}
                answer = httpx.post(f"{url}/v1/datasets/busy/files", files=files)
                return answer if answer.status_code == 503 else None

            answer = wait_until(refused, what="a 503 while the slot is taken")
            assert answer.headers["retry-after"] == "5" and "retry" in answer.json()["detail"]
        finally:
            holder.close()
        files = {"file": ("b.csv", b"text,label\nhi,a\n", "text/csv")}
        accepted = wait_until(
            lambda: (r := httpx.post(f"{url}/v1/datasets/busy/files", files=files)).status_code == 202 and r,
            what="the slot freed after the client left",
        )
        assert accepted.json()["key"].startswith("raw/busy/")
    assert len(raw_keys(topology, "busy")) == 1
