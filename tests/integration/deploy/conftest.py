"""A moto server of our own for the ECS deploy tests: started with MOTO_ECS_SERVICE_RUNNING=2, so that a service of
up to 2 tasks reaches rolloutState COMPLETED and a bigger one stays IN_PROGRESS for ever (moto reads the variable
when a service is created; see tests/fixtures/aws/EMULATORS.md §6)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.emulator import AWS_TEST_ENV, free_port, wait_http

RUNNING_TASKS = 2


@pytest.fixture(scope="module")
def ecs_endpoint() -> Iterator[str]:
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    env = {**os.environ, "MOTO_ECS_SERVICE_RUNNING": str(RUNNING_TASKS)}
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def on_moto(ecs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", ecs_endpoint)
    return ecs_endpoint
