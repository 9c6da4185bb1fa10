"""The real ingest app on a free port against the test emulator, a local HTTP source for imports, and a queue that
captures what ingest publishes to SNS."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.ingest.app import SPEC
from shared.events import Envelope
from shared.messages import decode_body
from shared.service import create_app
from shared.topology import Topology
from tests.conftest import boto
from tests.support.servers import running

MIB = 1024 * 1024
StartIngest = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def start_ingest(topology: Topology, monkeypatch: pytest.MonkeyPatch) -> StartIngest:
    """`with start_ingest(INGEST_X=...) as url:` runs a fresh ingest app with those settings."""

    @contextmanager
    def start(**env: str) -> Iterator[str]:
        base = {"INGEST_PART_SIZE": str(5 * MIB), "CONSUMER_WAIT_SECONDS": "1"}
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        with running(create_app(SPEC)) as url:
            yield url

    return start


@pytest.fixture
def ingest_url(start_ingest: StartIngest) -> Iterator[str]:
    with start_ingest() as url:
        yield url


def _raw(dataset: str) -> str:
    return f"raw/{dataset}/" if dataset else "raw/"


def raw_keys(topology: Topology, dataset: str = "") -> list[str]:
    listing = boto("s3").list_objects_v2(Bucket=topology.home_bucket, Prefix=_raw(dataset))
    return [o["Key"] for o in listing.get("Contents", [])]


def open_multipart_uploads(topology: Topology, dataset: str = "") -> list[dict[str, Any]]:
    listing = boto("s3").list_multipart_uploads(Bucket=topology.home_bucket, Prefix=_raw(dataset))
    return list(listing.get("Uploads", []))


@dataclass
class Capture:
    """An SQS queue subscribed to the events topic without a filter: everything published lands here."""

    url: str

    def envelopes(self, wait: float = 10.0, want: int = 1) -> list[Envelope]:
        sqs, found, deadline = boto("sqs"), [], time.monotonic() + wait
        while len(found) < want and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in got.get("Messages", []):
                found += [e for e in decode_body(message["Body"]) if isinstance(e, Envelope)]
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return found


@pytest.fixture
def capture(topology: Topology) -> Capture:
    sqs, sns = boto("sqs"), boto("sns")
    url = sqs.create_queue(QueueName=f"{topology.namespace}-capture-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = topic_arn(topology)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return Capture(url)


def topic_arn(topology: Topology) -> str:
    account = boto("sts").get_caller_identity()["Account"]
    return topology.topic_arn(account)


# ------------------------------------------------------------------------------ a local HTTP source
@dataclass
class Source:
    """A real HTTP server on 127.0.0.1 serving files for import tests."""

    base: str
    files: dict[str, bytes]

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def _handler(files: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # close-delimited bodies: no Content-Length needed for /stream/...

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            route, _, rest = self.path.lstrip("/").partition("/")
            if route == "redirect":
                self._send(302, b"", {"Location": rest if "://" in rest else "/" + rest})
            elif route in ("files", "stream", "slow") and rest.split("?")[0] in files:
                self._serve(route, files[rest.split("?")[0]])
            else:
                self._send(404, b"not here", {})

        def _serve(self, route: str, body: bytes) -> None:
            headers = {"Content-Type": "text/csv"}
            if route == "files":
                headers["Content-Length"] = str(len(body))
            self._send(200, b"" if route == "slow" else body, headers)
            if route == "slow":  # drip: a byte every 0.2 s, until done or the client gives up
                try:
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def source() -> Iterator[Source]:
    files: dict[str, bytes] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Source(f"http://127.0.0.1:{server.server_address[1]}", files)
    finally:
        server.shutdown()
        server.server_close()
