"""The `mlops upload` / `mlops datasets` commands against the real ingest app."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli.main import app
from shared.topology import Topology
from tests.conftest import boto

pytestmark = pytest.mark.integration


def test_upload_then_datasets(
    ingest_url: str, topology: Topology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_INGEST_URL", ingest_url)
    monkeypatch.setenv("COLUMNS", "200")
    data = tmp_path / "sms.tsv"
    data.write_bytes(b"ham\thello there\nspam\tWIN a prize now\n")
    runner = CliRunner()
    argv = ["upload", str(data), "-d", "sms", "--format", "tsv", "--no-header", "--text-column", "1"]
    result = runner.invoke(app, [*argv, "--label-column", "0"])
    assert result.exit_code == 0, result.output
    assert "accepted" in result.output and "raw/sms/" in result.output
    (key,) = [o["Key"] for o in boto("s3").list_objects_v2(Bucket=topology.home_bucket)["Contents"]]
    assert boto("s3").get_object(Bucket=topology.home_bucket, Key=key)["Body"].read() == data.read_bytes()

    listing = runner.invoke(app, ["datasets"])
    assert listing.exit_code == 0 and "sms" in listing.output and "dataset.ingested" in listing.output
    detail = runner.invoke(app, ["datasets", "sms", "--steps"])
    assert detail.exit_code == 0 and "sms.tsv" in detail.output

    refused = runner.invoke(app, ["upload", str(data), "-d", "sms", "--format", "xlsx"])
    assert refused.exit_code == 1 and "unknown format" in refused.output
    missing = runner.invoke(app, ["datasets", "nothing-here"])
    assert missing.exit_code == 1 and "404" in missing.output
