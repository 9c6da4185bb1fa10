"""The AWS emulator the integration tests talk to over HTTP: a moto server child process by default, or LocalStack
(already running, started by `make localstack-up`) when MLOPS_TEST_AWS=localstack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout}s")
        time.sleep(0.2)


@contextmanager
def moto_server(port: int | None = None) -> Iterator[str]:
    """Start `moto_server` on 127.0.0.1 and stop it afterwards."""
    port = port or free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def emulator() -> Iterator[str]:
    if os.environ.get("MLOPS_TEST_AWS") == "localstack":
        url = os.environ.get("LOCALSTACK_URL", "http://127.0.0.1:4566")
        wait_http(f"{url}/_localstack/health", timeout=60)
        yield url
    else:
        with moto_server() as url:
            yield url
