"""Fixtures shared by every test suite.

Integration tests get a real AWS emulator over HTTP (`aws_endpoint`), a fresh namespace so tests never see each
other's queues (`namespace`), and the topology applied in it (`topology`). PostgreSQL is the one running on this
machine (`MLOPS_TEST_POSTGRES_URL`, default 127.0.0.1:5432 with trust auth).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.settings import CommonSettings
from shared.topology import Topology
from tests.support.emulator import AWS_TEST_ENV, emulator

# CLI output is a rich table: give it room, so that what tests look for is never cut to "…" on a narrow pipe.
os.environ.setdefault("COLUMNS", "250")
POSTGRES_URL = os.environ.get("MLOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in [*AWS_TEST_ENV, "AWS_ENDPOINT_URL"]}
    with emulator() as url:
        os.environ.update(AWS_TEST_ENV)
        os.environ["AWS_ENDPOINT_URL"] = url
        try:
            yield url
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    """A fresh resource-name prefix per test, exported like a deployment would (MLOPS_NAMESPACE)."""
    ns = "t" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("MLOPS_NAMESPACE", ns)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    return ns


@pytest.fixture
def topology(aws_endpoint: str, namespace: str) -> Topology:
    """The whole topology applied in the emulator under this test's namespace."""
    from shared.provision import apply

    common = CommonSettings()
    apply(common)
    return Topology(common)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return POSTGRES_URL


def boto(service: str) -> Any:
    """A synchronous boto3 client against the test emulator (for arranging and asserting)."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
