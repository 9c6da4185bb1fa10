"""Prep's one handler table: every object created under raw/ is prepared (or skipped, or rejected)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from services.prep.files import basename, quarantine_key, skip_reason
from services.prep.jobs import JobStore
from services.prep.model import Rejected
from services.prep.pipeline import json_bytes
from services.prep.store import ObjectInfo
from services.prep.workflow import Prepared, Workbench, prepare, resolve_mapping
from shared.bus import HandlerContext, HandlerTable
from shared.datasets import dataset_of_raw_key, mapping_from_metadata
from shared.events import DatasetPrepared, DatasetRejected, S3Location
from shared.messages import S3_OBJECT_CREATED, PoisonMessage, S3ObjectEvent

log = logging.getLogger(__name__)
API_EVENT_NAME = "ObjectCreated:PrepJob"  # S3ObjectEvent.event_name of `POST /v1/jobs` requests


@dataclass
class PrepDeps:
    """Prep's dependencies, built once in `bootstrap`."""

    bench: Workbench
    jobs: JobStore
    api_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def supervise_api_jobs(self) -> None:
        """Background task: at shutdown, cancel preparations started over HTTP (their leases are released)."""
        try:
            await asyncio.Event().wait()
        finally:
            for task in list(self.api_tasks):
                task.cancel()
            await asyncio.gather(*self.api_tasks, return_exceptions=True)


async def prepare_raw_object(event: S3ObjectEvent, ctx: HandlerContext, deps: PrepDeps) -> None:
    """Prepare the created object if it is a data file; record the job and announce the outcome."""
    if reason := skip_reason(event.key):
        log.info("skipping %s: %s", event.key, reason)
        return
    if event.bucket != deps.bench.bucket:  # a misrouted notification: retrying cannot help, the DLQ keeps it
        raise PoisonMessage(f"prep prepares objects of s3://{deps.bench.bucket} only, not s3://{event.bucket}")
    started = time.time()
    age = round(started - event.event_time.timestamp(), 4)
    log.info("handling %s", event.key, extra={"started_at": started, "event_age_seconds": age})
    trigger = "api" if event.event_name == API_EVENT_NAME else "s3"
    jid = await deps.jobs.start(event, trigger)
    try:
        await _run(event, ctx, deps, jid)
    except Exception as exc:
        await deps.jobs.finish(jid, "failed", reason=f"{type(exc).__name__}: {exc}")
        raise


async def _run(event: S3ObjectEvent, ctx: HandlerContext, deps: PrepDeps, jid: str) -> None:
    bench = deps.bench
    info = await bench.store.head(event.bucket, event.key, event.version_id)
    if info is None:  # deleted (or its version purged) before we got to it: nothing left to prepare
        log.warning("%s no longer exists; nothing to prepare", event.key)
        await deps.jobs.finish(jid, "skipped", reason="the object no longer exists")
        return
    mapping, provenance = mapping_from_metadata(info.metadata)
    if correlation_id := provenance.get("correlation-id"):
        ctx.bind_correlation(correlation_id)
    named = dataset_of_raw_key(info.key)
    dataset = named or info.key.removeprefix("raw/").split("/", 1)[0]
    log.info("preparing %s", info.key, extra={"dataset": dataset, "size": info.size, "job_id": jid})
    try:
        if named is None:
            raise Rejected("the key names no valid data set", ["expected raw/<dataset>/<file>, dataset [A-Za-z0-9._-]"])
        mapping, origin = await resolve_mapping(bench, info, dataset, mapping)
        async with bench.slots:  # bounded parallelism: each preparation holds up to one partition in memory
            prepared = await prepare(bench, info, dataset, mapping, origin)
    except Rejected as rejected:
        await _reject(info, dataset, rejected, ctx, deps, jid)
        return
    await _announce(info, prepared, ctx, deps, jid)


async def _announce(info: ObjectInfo, prepared: Prepared, ctx: HandlerContext, deps: PrepDeps, jid: str) -> None:
    m = prepared.manifest
    await ctx.emit(
        DatasetPrepared(
            dataset=m.dataset,
            version=m.version,
            source=_location(info),
            manifest=prepared.manifest_location,
            labels=m.labels,
            splits=m.splits,
            slice_columns=m.slice_columns,
            input_sha256=m.input_sha256,
            output_digest=m.output_digest,
            rows_in=m.rows_in,
            rows_dropped=m.rows_dropped,
        )
    )
    detail: dict[str, Any] = {
        "rows_in": m.rows_in,
        "rows_dropped": m.rows_dropped,
        "splits": {s: c.model_dump() for s, c in m.splits.items()},
        "existed": prepared.existed,
        "mapping": m.mapping.model_dump(),
    }
    log.info(
        "prepared %s as %s/%s",
        info.key,
        m.dataset,
        m.version,
        extra={"rows_in": m.rows_in, "existed": prepared.existed},
    )
    await deps.jobs.finish(
        jid,
        "prepared",
        dataset=m.dataset,
        version=m.version,
        manifest_uri=prepared.manifest_location.uri,
        detail=detail,
    )


async def _reject(
    info: ObjectInfo, dataset: str, rejected: Rejected, ctx: HandlerContext, deps: PrepDeps, jid: str
) -> None:
    bench = deps.bench
    target = quarantine_key(info.key, dataset)
    await bench.store.copy(info, target)
    reason = {
        "dataset": dataset,
        "source": _location(info).model_dump(),
        "file": basename(info.key),
        "reason": rejected.reason,
        "details": rejected.details,
        "stats": rejected.stats,
        "code_version": bench.code_version,
    }
    await bench.store.put_bytes(bench.bucket, f"{target}.reason.json", json_bytes(reason), "application/json")
    quarantine = S3Location(bucket=bench.bucket, key=target)
    await ctx.emit(
        DatasetRejected(
            dataset=dataset,
            source=_location(info),
            reason=rejected.reason,
            details=rejected.details,
            quarantine=quarantine,
        )
    )
    log.warning("rejected %s: %s", info.key, rejected.reason, extra={"details": rejected.details})
    await deps.jobs.finish(
        jid,
        "rejected",
        dataset=dataset,
        reason=rejected.reason,
        detail={"details": rejected.details, "stats": rejected.stats, "quarantine": quarantine.uri},
    )


def _location(info: ObjectInfo) -> S3Location:
    return S3Location(bucket=info.bucket, key=info.key, version_id=info.version_id, etag=info.etag)


def handler_table(deps: PrepDeps) -> HandlerTable:
    return {S3_OBJECT_CREATED: [functools.partial(prepare_raw_object, deps=deps)]}
