"""URL imports through the real ingest app from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from shared.datasets import mapping_from_metadata
from shared.topology import Topology
from tests.conftest import boto
from tests.integration.ingest.conftest import Source, StartIngest, open_multipart_uploads, raw_keys

pytestmark = pytest.mark.integration
DATA = b"text,label\nwhere is my parcel,shipping\ncharged twice,billing\n"
ALLOW = {"INGEST_ALLOW_PRIVATE_IMPORTS": "true"}


def _import(url: str, dataset: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{url}/v1/datasets/{dataset}/imports", json=body, timeout=60)


def test_import_from_a_local_server_when_allowed(start_ingest: StartIngest, topology: Topology, source: Source) -> None:
    source.files["tickets.csv"] = DATA
    with start_ingest(**ALLOW) as url:
        answer = _import(
            url,
            "imported",
            {"url": source.url("/redirect/files/tickets.csv?token=secret"), "format": "csv", "text_column": "text"},
        )
        assert answer.status_code == 202, answer.text
        receipt = answer.json()
        assert receipt["source"] == "import" and receipt["filename"] == "tickets.csv"
        obj = boto("s3").get_object(Bucket=topology.home_bucket, Key=receipt["key"])
        assert obj["Body"].read() == DATA
        mapping, provenance = mapping_from_metadata(obj["Metadata"])
        assert mapping is not None and mapping.text_column == "text"
        assert provenance["upload-id"] == receipt["upload_id"]
        (upload,) = httpx.get(f"{url}/v1/datasets/imported").json()["uploads"]
        # The query (which may carry a token) never reaches a record.
        assert upload["origin"] == source.url("/redirect/files/tickets.csv")
        assert upload["stage"] == "dataset.ingested"


def test_import_from_a_local_server_refused_by_default(ingest_url: str, topology: Topology, source: Source) -> None:
    source.files["tickets.csv"] = DATA
    for host in ("127.0.0.1", "localhost"):
        url = source.url("/files/tickets.csv").replace("127.0.0.1", host)
        answer = _import(ingest_url, "refused", {"url": url})
        assert answer.status_code == 403, answer.text
        assert "loopback" in answer.json()["detail"]
    metadata = _import(ingest_url, "refused", {"url": "http://169.254.169.254/latest/meta-data/"})
    assert metadata.status_code == 403 and "link-local" in metadata.json()["detail"]
    assert raw_keys(topology, "refused") == []


def test_redirects_are_checked_again(start_ingest: StartIngest, topology: Topology, source: Source) -> None:
    with start_ingest(**ALLOW) as url:
        answer = _import(url, "hop", {"url": source.url("/redirect/file:///etc/passwd")})
        assert answer.status_code == 422 and "only http and https" in answer.json()["detail"]
        scheme = _import(url, "hop", {"url": "file:///etc/passwd"})
        assert scheme.status_code == 422
    assert raw_keys(topology, "hop") == []


@pytest.mark.parametrize("route", ["files", "stream"])  # with a Content-Length, and without one (counted)
def test_import_past_the_size_cap(start_ingest: StartIngest, topology: Topology, source: Source, route: str) -> None:
    source.files["big.csv"] = b"text,label\n" + b"a long enough line of text,x\n" * 20_000
    with start_ingest(INGEST_IMPORT_MAX_BYTES=str(100_000), **ALLOW) as url:
        answer = _import(url, "toolarge", {"url": source.url(f"/{route}/big.csv")})
        assert answer.status_code == 413, answer.text
        assert "import limit" in answer.json()["detail"]
    assert raw_keys(topology, "toolarge") == [] and open_multipart_uploads(topology, "toolarge") == []


def test_import_past_the_time_cap(start_ingest: StartIngest, topology: Topology, source: Source) -> None:
    source.files["slow.csv"] = DATA
    with start_ingest(INGEST_IMPORT_TIMEOUT_SECONDS="1", **ALLOW) as url:
        answer = _import(url, "slow", {"url": source.url("/slow/slow.csv")})
        assert answer.status_code == 504 and "longer than 1 s" in answer.json()["detail"]
    assert raw_keys(topology, "slow") == []


def test_import_failures_have_reasons(start_ingest: StartIngest, topology: Topology, source: Source) -> None:
    source.files["empty.csv"] = b""
    with start_ingest(**ALLOW) as url:
        missing = _import(url, "fails", {"url": source.url("/files/nothing.csv")})
        assert missing.status_code == 502 and "HTTP 404" in missing.json()["detail"]
        empty = _import(url, "fails", {"url": source.url("/files/empty.csv")})
        assert empty.status_code == 422 and "empty" in empty.json()["detail"]
        bad_mapping = _import(url, "fails", {"url": source.url("/files/empty.csv"), "format": "parquet"})
        assert bad_mapping.status_code == 422 and "unknown format" in bad_mapping.json()["detail"]
        unknown_field = _import(url, "fails", {"url": source.url("/files/empty.csv"), "colour": "red"})
        assert unknown_field.status_code == 422
    assert raw_keys(topology, "fails") == []
