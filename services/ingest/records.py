"""The records behind `GET /v1/datasets`: uploads and the domain events seen about them, and the store port.

Rows are plain facts; how they link into data sets, uploads and versions is decided when they are read
(`services.ingest.readmodel`), so events that arrive out of order (SQS does not keep order) still end up in place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class UploadRow:
    """One raw object: uploaded or imported through ingest, or dropped into raw/ by another S3 client (`s3`)."""

    upload_id: str
    dataset: str
    source: str
    filename: str
    bucket: str
    key: str
    correlation_id: str
    created_at: float
    size: int | None = None
    version_id: str | None = None
    etag: str | None = None
    mapping: dict[str, Any] | None = None
    origin: str | None = None


@dataclass(frozen=True)
class EventRow:
    """One domain event with the keys it can be linked by (all optional except its identity)."""

    event_id: str
    type: str
    occurred_at: float
    correlation_id: str
    source: str
    payload: dict[str, Any]
    dataset: str | None = None
    version: str | None = None
    upload_id: str | None = None
    source_key: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    recorded_at: float = 0.0


class RecordStore(Protocol):
    """Where the projection keeps its rows (SQL in the service, memory in unit tests)."""

    async def add_event(self, row: EventRow, sketch: UploadRow | None = None) -> bool:
        """Store an event, and in the same transaction `sketch` (the upload it is about) unless that upload id is
        already known; False when the event id is already stored (a redelivery)."""
        ...

    async def save_upload(self, row: UploadRow) -> None:
        """Insert or replace an upload."""
        ...

    async def uploads(self, dataset: str | None = None) -> list[UploadRow]: ...

    async def events(self, dataset: str | None = None) -> list[EventRow]:
        """Events naming `dataset` (every event when None), oldest first."""
        ...

    async def unnamed_events(self, correlation_ids: set[str], model_names: set[str]) -> list[EventRow]:
        """Events that name no data set but share a correlation id or a model name with one."""
        ...


class MemoryRecordStore:
    """The in-memory fake of the store, for unit tests."""

    def __init__(self) -> None:
        self.event_rows: dict[str, EventRow] = {}
        self.upload_rows: dict[str, UploadRow] = {}
        self._clock = 0.0

    async def add_event(self, row: EventRow, sketch: UploadRow | None = None) -> bool:
        if row.event_id in self.event_rows:
            return False
        if sketch is not None:
            self.upload_rows.setdefault(sketch.upload_id, sketch)
        self._clock += 1
        self.event_rows[row.event_id] = replace(row, recorded_at=self._clock)
        return True

    async def save_upload(self, row: UploadRow) -> None:
        self.upload_rows[row.upload_id] = row

    async def uploads(self, dataset: str | None = None) -> list[UploadRow]:
        rows = [u for u in self.upload_rows.values() if dataset is None or u.dataset == dataset]
        return sorted(rows, key=lambda u: u.created_at)

    async def events(self, dataset: str | None = None) -> list[EventRow]:
        rows = [e for e in self.event_rows.values() if dataset is None or e.dataset == dataset]
        return sorted(rows, key=lambda e: (e.occurred_at, e.recorded_at))

    async def unnamed_events(self, correlation_ids: set[str], model_names: set[str]) -> list[EventRow]:
        rows = [
            e
            for e in self.event_rows.values()
            if e.dataset is None and (e.correlation_id in correlation_ids or e.model_name in model_names)
        ]
        return sorted(rows, key=lambda e: (e.occurred_at, e.recorded_at))
