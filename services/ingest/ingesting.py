"""Taking one file into raw/: check its first bytes, stream it to S3, then announce it (`dataset.ingested`).

Uploads and imports both end here. The order is what makes it safe: nothing is written before the head of the file
passed the edge checks; any failure while streaming (client gone, size cap, source error, timeout, cancellation)
aborts the S3 upload so raw/ keeps nothing; the event is published only once the object is durable.
"""

from __future__ import annotations

import logging
import mimetypes
import posixpath
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.ingest.projection import Projection, new_upload_id, raw_key
from services.ingest.settings import IngestSettings
from services.ingest.sniff import ContentError, check_head
from services.ingest.storage import S3StreamWriter, StoredObject
from shared.datasets import SCHEMA_FILE, mapping_to_metadata
from shared.events import ColumnMapping, DatasetIngested, Envelope, S3Location
from shared.logs import correlation_id_var
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)
SERVICE = "ingest"
_INGESTED_IDS = uuid.UUID("0b9d6a52-52a4-4f5e-8a43-5f0e1c7a9d21")
CONTENT_TYPES = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "jsonl": "application/jsonl",
    "fasttext": "text/plain",
}
MAX_FILENAME = 200


class TooLarge(ValueError):
    """The file passed the size cap (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


class Busy(RuntimeError):
    """Every transfer slot is taken (503: retry shortly)."""


class TransferSlots:
    """Bounds the uploads and imports in flight, so that memory stays bounded (each holds up to one S3 part)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.free = limit

    @contextmanager
    def take(self) -> Iterator[None]:
        # No await between the check and the decrement: one event loop, so no lock is needed.
        if self.free <= 0:
            raise Busy(f"{self.limit} uploads or imports are in progress; retry shortly")
        self.free -= 1
        try:
            yield
        finally:
            self.free += 1


@dataclass(frozen=True)
class IngestDeps:
    """What the ingest routes and handlers need; built once in `bootstrap`."""

    settings: IngestSettings
    s3: Any
    bucket: str
    publisher: EventPublisher
    projection: Projection
    slots: TransferSlots


@dataclass(frozen=True)
class Incoming:
    """A file about to be ingested."""

    dataset: str
    filename: str
    mapping: ColumnMapping
    source: Literal["upload", "import"]
    content_type: str | None = None
    origin: str | None = None


class Receipt(BaseModel):
    """The answer to an accepted upload or import (202): where the file is and how to follow it."""

    upload_id: str
    dataset: str
    uri: str = Field(description="s3://bucket/raw/{dataset}/{upload_id}/{filename}")
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size_bytes: int
    filename: str
    source: str
    mapping: dict[str, Any]
    correlation_id: str = Field(description="Follows this file through prep, training and promotion.")
    event_id: str = Field(description="Id of the dataset.ingested event.")
    status_url: str


def safe_filename(name: str | None, default: str = "data") -> str:
    """The last path component, printable, bounded; `_schema.json` is reserved for the data set's schema file."""
    base = posixpath.basename((name or "").replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable())
    if base in ("", ".", ".."):
        base = default
    if base == SCHEMA_FILE:
        raise ContentError(f"{SCHEMA_FILE} is reserved for the data set's schema (PUT /v1/datasets/{{dataset}}/schema)")
    if len(base) > MAX_FILENAME:
        stem, ext = posixpath.splitext(base)
        base = stem[: MAX_FILENAME - len(ext[:20])] + ext[:20]
    return base


def content_type_of(incoming: Incoming) -> str:
    if incoming.mapping.format:
        return CONTENT_TYPES[incoming.mapping.format]
    guessed, _ = mimetypes.guess_type(incoming.filename)
    if guessed and (guessed.startswith("text/") or guessed.endswith("json")):
        return guessed
    return incoming.content_type or "application/octet-stream"


async def _read_head(chunks: AsyncIterator[bytes], want: int, limit: int) -> tuple[bytes, bool]:
    """At least `want` bytes from the start (or all, when shorter), and whether that was the whole stream."""
    head = bytearray()
    while len(head) < want:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return bytes(head), True
        head += chunk
        if len(head) > limit:
            raise TooLarge(limit)
    return bytes(head), False


async def _stream(
    writer: S3StreamWriter, chunks: AsyncIterator[bytes], mapping: ColumnMapping, sniff: int, limit: int
) -> StoredObject:
    head, complete = await _read_head(chunks, sniff, limit)
    check_head(head, complete=complete, mapping=mapping)
    await writer.write(head)
    async for chunk in chunks:
        if writer.size + len(chunk) > limit:
            raise TooLarge(limit)
        await writer.write(chunk)
    return await writer.finish()


async def ingest(deps: IngestDeps, incoming: Incoming, chunks: AsyncIterator[bytes], *, limit: int) -> Receipt:
    """Stream `chunks` into raw/ and announce the file. Raises ContentError / TooLarge / what the stream raises."""
    upload_id, correlation_id = new_upload_id(), uuid.uuid4().hex
    correlation_id_var.set(correlation_id)  # every log line of this request now carries it
    key = raw_key(incoming.dataset, upload_id, incoming.filename)
    metadata = mapping_to_metadata(incoming.mapping, correlation_id=correlation_id, upload_id=upload_id)
    writer = S3StreamWriter(
        deps.s3,
        deps.bucket,
        key,
        part_size=deps.settings.part_size,
        metadata=metadata,
        content_type=content_type_of(incoming),
    )
    try:
        stored = await _stream(writer, chunks, incoming.mapping, deps.settings.sniff_bytes, limit)
    except BaseException:
        await writer.abort()
        raise
    log.info("stored %s", stored.uri, extra={"upload_id": upload_id, "size": stored.size, "parts": stored.parts})
    envelope = await announce(deps, incoming, stored, upload_id, correlation_id)
    return _receipt(incoming, stored, upload_id, envelope)


async def announce(
    deps: IngestDeps, incoming: Incoming, stored: StoredObject, upload_id: str, correlation_id: str
) -> Envelope:
    """Publish `dataset.ingested` (the object is durable by now) and record it for `GET /v1/datasets`."""
    payload = DatasetIngested(
        dataset=incoming.dataset,
        upload_id=upload_id,
        source=incoming.source,
        location=S3Location(bucket=stored.bucket, key=stored.key, version_id=stored.version_id, etag=stored.etag),
        size_bytes=stored.size,
        filename=incoming.filename,
        mapping=incoming.mapping,
        origin=incoming.origin,
    )
    # A deterministic id: were this ever retried, consumers would see the same event twice and drop one.
    event_id = uuid.uuid5(_INGESTED_IDS, upload_id).hex
    envelope = Envelope.wrap(payload, source=SERVICE, correlation_id=correlation_id, event_id=event_id)
    await deps.publisher.publish(envelope)
    await deps.projection.record(envelope)
    return envelope


def _receipt(incoming: Incoming, stored: StoredObject, upload_id: str, envelope: Envelope) -> Receipt:
    return Receipt(
        upload_id=upload_id,
        dataset=incoming.dataset,
        uri=stored.uri,
        bucket=stored.bucket,
        key=stored.key,
        version_id=stored.version_id,
        etag=stored.etag,
        size_bytes=stored.size,
        filename=incoming.filename,
        source=incoming.source,
        mapping=incoming.mapping.model_dump(mode="json", exclude_defaults=True),
        correlation_id=envelope.correlation_id,
        event_id=envelope.id,
        status_url=f"/v1/datasets/{incoming.dataset}",
    )
