"""Recording domain events as linkable facts: the write side of `GET /v1/datasets`.

Nothing here knows individual event types beyond `dataset.ingested` (which describes an upload). Every other event is
reduced to the keys it can be linked by, read from its payload by field name: `dataset`, the data set version
(`dataset_version`, or a string `version` next to `dataset`), the model (`model_name` + an integer `version`), the raw
object it is about (`source`/`location` under raw/) and the correlation id. A later stage that emits events with
those fields shows up without any change here.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.ingest.records import EventRow, RecordStore, UploadRow
from shared.events import DatasetIngested, Envelope

log = logging.getLogger(__name__)
_UPLOAD_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


def new_upload_id() -> str:
    """Time-ordered and unique: `20260101T120000Z-1a2b3c4d` (S3 listings of raw/{dataset}/ sort by time)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def raw_key(dataset: str, upload_id: str, filename: str) -> str:
    return f"raw/{dataset}/{upload_id}/{filename}"


def upload_id_from_key(key: str) -> str | None:
    """The upload id of a key ingest wrote (`raw/{dataset}/{upload_id}/{filename}`), else None."""
    parts = key.split("/")
    if len(parts) >= 4 and parts[0] == "raw" and _UPLOAD_ID.match(parts[2]):
        return parts[2]
    return None


def foreign_upload_id(bucket: str, key: str, revision: str | None) -> str:
    """A stable id for an object another S3 client dropped into raw/ (one per object version)."""
    digest = hashlib.sha256(f"{bucket}/{key}@{revision or ''}".encode()).hexdigest()[:16]
    return f"s3-{digest}"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _raw_location(payload: dict[str, Any]) -> dict[str, Any] | None:
    for name in ("source", "location"):
        where = payload.get(name)
        if isinstance(where, dict) and str(where.get("key", "")).startswith("raw/"):
            return where
    return None


def event_row(envelope: Envelope) -> EventRow:
    """The event reduced to its linking keys (see the module docstring)."""
    payload = envelope.payload.model_dump(mode="json")
    dataset = _text(payload.get("dataset"))
    model_name = _text(payload.get("model_name"))
    number = payload.get("version")
    raw = _raw_location(payload)
    return EventRow(
        event_id=envelope.id,
        type=envelope.type,
        occurred_at=envelope.occurred_at.timestamp(),
        correlation_id=envelope.correlation_id,
        source=envelope.source,
        payload=payload,
        dataset=dataset,
        version=_text(payload.get("dataset_version")) or (_text(number) if dataset else None),
        upload_id=_text(payload.get("upload_id")) or (upload_id_from_key(raw["key"]) if raw else None),
        source_key=raw["key"] if raw else None,
        model_name=model_name,
        model_version=number if model_name and isinstance(number, int) and not isinstance(number, bool) else None,
    )


def upload_from_ingested(envelope: Envelope) -> UploadRow:
    event = envelope.payload_as(DatasetIngested)
    return UploadRow(
        upload_id=event.upload_id,
        dataset=event.dataset,
        source=event.source,
        filename=event.filename,
        bucket=event.location.bucket,
        key=event.location.key,
        correlation_id=envelope.correlation_id,
        created_at=envelope.occurred_at.timestamp(),
        size=event.size_bytes,
        version_id=event.location.version_id,
        etag=event.location.etag,
        mapping=event.mapping.model_dump(mode="json", exclude_defaults=True),
        origin=event.origin,
    )


class Projection:
    """Records events and uploads; idempotent (an event id is stored once), order-insensitive."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    async def record(self, envelope: Envelope) -> None:
        row, sketch = event_row(envelope), None
        if envelope.type == DatasetIngested.event_type:
            await self.store.save_upload(upload_from_ingested(envelope))
        elif row.dataset and row.source_key:
            row, sketch = _with_upload(row)
        if await self.store.add_event(row, sketch):
            log.info("recorded %s", row.type, extra={"dataset": row.dataset, "upload_id": row.upload_id})


def _with_upload(row: EventRow) -> tuple[EventRow, UploadRow]:
    """Link an event about a raw object to its upload, with a sketch of that upload for files dropped into raw/
    (the store keeps the sketch only when the upload id is unknown: ingest's own record always wins)."""
    raw = _raw_location(row.payload) or {}
    bucket, key = str(raw.get("bucket", "")), str(raw.get("key", ""))
    upload_id = row.upload_id or foreign_upload_id(bucket, key, raw.get("version_id") or raw.get("etag"))
    sketch = UploadRow(
        upload_id=upload_id,
        dataset=str(row.dataset),
        source="s3",
        filename=posixpath.basename(key),
        bucket=bucket,
        key=key,
        correlation_id=row.correlation_id,
        created_at=row.occurred_at,
        version_id=raw.get("version_id"),
        etag=raw.get("etag"),
    )
    return replace(row, upload_id=upload_id), sketch
