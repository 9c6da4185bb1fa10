"""The read side of `GET /v1/datasets`: uploads, versions and where each one is in the pipeline.

Linking happens here, at read time, so events that arrived in any order fall into place:
- an event names its data set, or shares a correlation id with one, or names a model registered from one;
- its data set version is the one it names, or its model's (from the event that names both), or the one its
  correlation id led to;
- its upload is the one it names, or the upload(s) its version was prepared from, or the one with its correlation id.
The stage of an upload or a version is simply the type of its latest event, so a new stage needs no change here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from services.ingest.records import EventRow, RecordStore, UploadRow

PROBLEM_WORDS = ("rejected", "failed")
PREPARED = "dataset.prepared"
_MAX_TEXT = 300
_MAX_ITEMS = 30


class Step(BaseModel):
    """One event in the life of an upload or a version."""

    type: str = Field(description="The event type; the stage reached.")
    occurred_at: datetime
    ok: bool = Field(description="False for rejections and failures.")
    source: str = Field(description="The service that emitted it.")
    event_id: str
    detail: dict[str, Any] = Field(description="The event's small fields (reasons, counts, locations).")


class UploadView(BaseModel):
    upload_id: str
    source: str = Field(description="upload, import, or s3 (dropped into raw/ by another S3 client)")
    filename: str
    uri: str
    size: int | None
    created_at: datetime
    correlation_id: str
    mapping: dict[str, Any] | None
    origin: str | None
    stage: str
    ok: bool
    versions: list[str]
    steps: list[Step]


class VersionView(BaseModel):
    version: str
    uploads: list[str]
    stage: str
    ok: bool
    prepared_at: datetime | None = None
    manifest: str | None = None
    labels: list[str] = []
    splits: dict[str, Any] = {}
    rows_in: int | None = None
    rows_dropped: dict[str, int] = {}
    models: list[str] = Field([], description="Models trained on this version, as name:version.")
    steps: list[Step]


class DatasetSummary(BaseModel):
    dataset: str
    stage: str
    ok: bool
    updated_at: datetime
    upload_count: int
    version_count: int
    latest_version: str | None = Field(description="The most recently prepared version.")


class DatasetView(DatasetSummary):
    uploads: list[UploadView]
    versions: list[VersionView]

    def summary(self) -> DatasetSummary:
        return DatasetSummary.model_validate(self.model_dump(include=set(DatasetSummary.model_fields)))


def is_ok(event_type: str) -> bool:
    return not event_type.rsplit(".", 1)[-1].endswith(PROBLEM_WORDS)


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def summarize(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields worth showing: scalars, S3 locations as URIs, short lists and flat maps (metrics, counts)."""
    out: dict[str, Any] = {}
    for name, value in payload.items():
        if isinstance(value, str):
            out[name] = value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "..."
        elif _scalar(value):
            out[name] = value
        elif isinstance(value, dict) and "bucket" in value and "key" in value:
            out[name] = f"s3://{value['bucket']}/{value['key']}"
        elif _small_flat(value):
            out[name] = value
    return out


def _small_flat(value: Any) -> bool:
    """A short list of scalars or a small map of scalars (metrics, counts)."""
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, list) and 0 < len(value) <= _MAX_ITEMS and all(_scalar(v) for v in value)


def step(event: EventRow) -> Step:
    return Step(
        type=event.type,
        occurred_at=_when(event.occurred_at),
        ok=is_ok(event.type),
        source=event.source,
        event_id=event.event_id,
        detail=summarize(event.payload),
    )


class _Links:
    """Which version and which uploads each event belongs to (see the module docstring)."""

    def __init__(self, uploads: list[UploadRow], events: list[EventRow]) -> None:
        self.lineage: dict[tuple[str | None, int | None], str] = {
            (e.model_name, e.model_version): e.version
            for e in events
            if e.model_name and e.model_version is not None and e.version
        }
        by_cid: dict[str, set[str]] = defaultdict(set)
        for e in events:
            if e.version:
                by_cid[e.correlation_id].add(e.version)
        self.version_of: dict[str, str | None] = {e.event_id: self._version(e, by_cid) for e in events}
        self.uploads_of_version: dict[str, set[str]] = defaultdict(set)
        for e in events:
            if e.upload_id and (version := self.version_of[e.event_id]):
                self.uploads_of_version[version].add(e.upload_id)
        self.upload_of_cid = {u.correlation_id: u.upload_id for u in uploads}

    def _version(self, event: EventRow, by_cid: dict[str, set[str]]) -> str | None:
        if event.version:
            return event.version
        if (found := self.lineage.get((event.model_name, event.model_version))) is not None:
            return found
        candidates = by_cid.get(event.correlation_id, set())
        return next(iter(candidates)) if len(candidates) == 1 else None

    def uploads_of(self, event: EventRow) -> set[str]:
        if event.upload_id:
            return {event.upload_id}
        version = self.version_of[event.event_id]
        if version and version in self.uploads_of_version:
            return self.uploads_of_version[version]
        cid_upload = self.upload_of_cid.get(event.correlation_id)
        return {cid_upload} if cid_upload else set()

    def related(self, event: EventRow, correlation_ids: set[str]) -> bool:
        """Whether an event that names no data set belongs to this one."""
        return event.correlation_id in correlation_ids or (event.model_name, event.model_version) in self.lineage


def linked_events(uploads: list[UploadRow], named: list[EventRow], unnamed: Iterable[EventRow]) -> list[EventRow]:
    """The data set's own events plus those that name no data set but are linked to it."""
    links = _Links(uploads, named)
    cids = {u.correlation_id for u in uploads} | {e.correlation_id for e in named}
    extra = [e for e in unnamed if e.dataset is None and links.related(e, cids)]
    return sorted([*named, *extra], key=lambda e: (e.occurred_at, e.recorded_at))


def _upload_view(upload: UploadRow, events: list[EventRow], links: _Links) -> UploadView:
    mine = [e for e in events if upload.upload_id in links.uploads_of(e)]
    versions = sorted({v for e in mine if (v := links.version_of[e.event_id])})
    latest = mine[-1].type if mine else "uploaded"
    return UploadView(
        upload_id=upload.upload_id,
        source=upload.source,
        filename=upload.filename,
        uri=f"s3://{upload.bucket}/{upload.key}",
        size=upload.size,
        created_at=_when(upload.created_at),
        correlation_id=upload.correlation_id,
        mapping=upload.mapping,
        origin=upload.origin,
        stage=latest,
        ok=is_ok(latest),
        versions=versions,
        steps=[step(e) for e in mine],
    )


def _version_view(version: str, events: list[EventRow], links: _Links) -> VersionView:
    mine = [e for e in events if links.version_of[e.event_id] == version]
    prepared = next((e for e in reversed(mine) if e.type == PREPARED), None)
    info = prepared.payload if prepared else {}
    models = sorted({f"{e.model_name}:{e.model_version}" for e in mine if e.model_name and e.model_version})
    return VersionView(
        version=version,
        uploads=sorted(links.uploads_of_version.get(version, set())),
        stage=mine[-1].type,
        ok=is_ok(mine[-1].type),
        prepared_at=_when(prepared.occurred_at) if prepared else None,
        manifest=summarize({"m": info["manifest"]}).get("m") if "manifest" in info else None,
        labels=info.get("labels", []),
        splits=info.get("splits", {}),
        rows_in=info.get("rows_in"),
        rows_dropped=info.get("rows_dropped", {}),
        models=models,
        steps=[step(e) for e in mine],
    )


def assemble(dataset: str, uploads: list[UploadRow], events: list[EventRow]) -> DatasetView | None:
    """The whole view of one data set from its uploads and its (already linked) events; None if unknown."""
    if not uploads and not events:
        return None
    links = _Links(uploads, events)
    order = dict.fromkeys(links.version_of[e.event_id] for e in events)  # first seen first
    versions = [_version_view(v, events, links) for v in order if v]
    prepared = [e for e in events if e.type == PREPARED and links.version_of[e.event_id]]
    last_event = events[-1] if events else None
    stage = last_event.type if last_event else "uploaded"
    updated = max([*(e.occurred_at for e in events), *(u.created_at for u in uploads)])
    return DatasetView(
        dataset=dataset,
        stage=stage,
        ok=is_ok(stage),
        updated_at=_when(updated),
        upload_count=len(uploads),
        version_count=len(versions),
        latest_version=links.version_of[prepared[-1].event_id] if prepared else None,
        uploads=[_upload_view(u, events, links) for u in uploads],
        versions=versions,
    )


async def dataset_view(store: RecordStore, dataset: str) -> DatasetView | None:
    uploads = await store.uploads(dataset)
    named = await store.events(dataset)
    links = _Links(uploads, named)
    cids = {u.correlation_id for u in uploads} | {e.correlation_id for e in named}
    unnamed = await store.unnamed_events(cids, {name for name, _ in links.lineage if name})
    return assemble(dataset, uploads, linked_events(uploads, named, unnamed))


async def dataset_summaries(store: RecordStore) -> list[DatasetSummary]:
    uploads, events = await store.uploads(), await store.events()
    names = sorted({u.dataset for u in uploads} | {e.dataset for e in events if e.dataset})
    unnamed = [e for e in events if e.dataset is None]
    summaries = []
    for name in names:
        mine_uploads = [u for u in uploads if u.dataset == name]
        named = [e for e in events if e.dataset == name]
        view = assemble(name, mine_uploads, linked_events(mine_uploads, named, unnamed))
        if view is not None:
            summaries.append(view.summary())
    return summaries
