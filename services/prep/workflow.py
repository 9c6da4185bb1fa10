"""One preparation, end to end: read the raw object's mapping, detect what is missing, stream and spill in a worker
thread, skip if this version already exists, build the outputs, upload them with the manifest last, and report.

A bad file raises `Rejected` (the handler quarantines it); the raw object itself is never touched. Transient failures
(S3 errors) raise anything else, so the message is retried and, after five receives, dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from services.prep.encoding import detect_encoding
from services.prep.files import basename, unsupported_reason
from services.prep.model import PrepConfig, ReadPlan, Rejected, version_id
from services.prep.partitions import Spill
from services.prep.pipeline import Built, Spilled, build_outputs, json_bytes, output_digest, read_and_spill
from services.prep.plan import build_plan
from services.prep.settings import PrepSettings
from services.prep.store import ObjectInfo, ObjectStore
from services.prep.streams import BridgedReader
from shared.datasets import (
    SCHEMA_FILE,
    FileEntry,
    Manifest,
    corpus_key,
    manifest_key,
    slices_key,
    transformer_key,
)
from shared.events import ColumnMapping, S3Location

log = logging.getLogger(__name__)
T = TypeVar("T")
PROBE_BYTES = 64 * 1024


@dataclass
class Prepared:
    manifest: Manifest
    manifest_location: S3Location
    existed: bool  # the version was already there (same bytes, same config): nothing written


@dataclass
class Workbench:
    """What one preparation needs besides the object: storage, config, threads and scratch space."""

    store: ObjectStore
    settings: PrepSettings
    config: PrepConfig
    bucket: str
    code_version: str
    work_dir: Path
    executor: ThreadPoolExecutor
    slots: asyncio.Semaphore

    async def in_thread(self, fn: Callable[..., T], *args: Any, stop: threading.Event | None = None) -> T:
        """Run blocking work in a worker thread. If the awaiting task is cancelled (shutdown), `stop` is set so the
        work can end at its next check instead of running on after the service is gone."""
        # copy_context: log lines written in the worker keep the correlation id.
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, call)
        except asyncio.CancelledError:
            if stop is not None:
                stop.set()
            raise


def clean_stale_workdirs(work_dir: Path) -> None:
    """Remove scratch directories of processes that died (SIGKILL leaves them behind)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    for entry in work_dir.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def resolve_mapping(
    bench: Workbench, info: ObjectInfo, dataset: str, mapping: ColumnMapping | None
) -> tuple[ColumnMapping | None, str]:
    """The object's own mapping, else its data set's `_schema.json`, else None (detect everything)."""
    if mapping is not None:
        return mapping, "metadata"
    schema = await bench.store.get_bytes(info.bucket, f"raw/{dataset}/{SCHEMA_FILE}")
    if schema is None:
        return None, "detected"
    try:
        return ColumnMapping.model_validate_json(schema), "schema"
    except ValidationError as exc:
        raise Rejected(f"invalid raw/{dataset}/{SCHEMA_FILE}", [str(exc).splitlines()[0]]) from exc


async def prepare(
    bench: Workbench, info: ObjectInfo, dataset: str, mapping: ColumnMapping | None, origin: str
) -> Prepared:
    """Prepare one raw object version into `processed/{dataset}/{version}/` (or find it there already)."""
    if reason := unsupported_reason(info.key):
        raise Rejected(reason)
    plan = await _plan(bench, info, mapping, origin)
    log.info("reading %s as %s", info.key, plan.model_dump_json(), extra={"dataset": dataset})
    work = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=bench.work_dir))
    try:
        clock = time.monotonic()
        spilled = await _spill(bench, info, plan, work)
        version = version_id(spilled.input_sha256, bench.config, plan)
        _phase("read and spilled", clock, rows=spilled.rows_in, bytes=spilled.input_bytes)
        key = manifest_key(dataset, version)
        if (existing := await bench.store.get_bytes(bench.bucket, key)) is not None:
            log.info("version %s of %s exists already; nothing to write", version, dataset)
            return Prepared(Manifest.model_validate_json(existing), S3Location(bucket=bench.bucket, key=key), True)
        out = work / "out"
        out.mkdir()
        clock = time.monotonic()
        stop = threading.Event()
        built = await bench.in_thread(
            build_outputs, spilled, plan, bench.config, dataset, version, out, stop, stop=stop
        )
        _phase("deduplicated, split and written", clock, kept=sum(s.total for s in built.splits.values()))
        clock = time.monotonic()
        manifest = await _upload(bench, info, plan, spilled, built, dataset, version)
        _phase("uploaded", clock, version=version)
        return Prepared(manifest, S3Location(bucket=bench.bucket, key=key), False)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


def _phase(what: str, since: float, **extra: Any) -> None:
    seconds = round(time.monotonic() - since, 3)
    log.info("%s in %.1fs", what, seconds, extra={"phase": what, "seconds": seconds, **extra})


async def _plan(bench: Workbench, info: ObjectInfo, mapping: ColumnMapping | None, origin: str) -> ReadPlan:
    size, sample = info.size, bench.settings.sample_bytes
    head = await bench.store.read_range(info, 0, sample - 1) if size else b""
    probes = []
    if size > sample + 2 * PROBE_BYTES:  # encodings can change after the head: look in the middle and at the end
        for start in (size // 2, size - PROBE_BYTES):
            probes.append(await bench.store.read_range(info, start, start + PROBE_BYTES - 1))
    complete = size <= sample

    def plan() -> ReadPlan:
        encoding = detect_encoding(head, probes, complete)
        return build_plan(head, encoding, complete, basename(info.key), mapping, origin)

    return await bench.in_thread(plan)


def partitions_for(size: int, settings: PrepSettings) -> int:
    return max(1, min(settings.max_partitions, math.ceil(size / settings.partition_bytes)))


async def _spill(bench: Workbench, info: ObjectInfo, plan: ReadPlan, work: Path) -> Spilled:
    read, close = await bench.store.open_reader(info)
    loop = asyncio.get_running_loop()
    partitions = partitions_for(info.size, bench.settings)

    def progress(rows: int) -> None:
        log.info("read %d rows of %s", rows, info.key, extra={"rows": rows, "key": info.key})

    stop = threading.Event()

    def phase1() -> Spilled:
        raw = BridgedReader(read, loop, stop)
        spill = Spill(work, partitions, bench.config.split.seed)
        rows, dropped = read_and_spill(raw, plan, bench.config, spill, progress, bench.settings.progress_every)
        return Spilled(rows, dropped, raw.sha256.hexdigest(), raw.size, spill.paths)

    try:
        return await bench.in_thread(phase1, stop=stop)
    finally:
        close()


async def _upload(
    bench: Workbench, info: ObjectInfo, plan: ReadPlan, spilled: Spilled, built: Built, dataset: str, version: str
) -> Manifest:
    store, bucket = bench.store, bench.bucket
    text = "text/plain; charset=utf-8"
    files, slices, digests = {}, {}, {}
    for split, path in built.corpora.items():
        key = corpus_key(dataset, version, split)
        await store.upload_file(bucket, key, path, text)
        files[split] = FileEntry(key=key, sha256=built.sha256[path], rows=built.splits[split].total)
        digests[path.name] = built.sha256[path]
    for split, path in built.slices.items():
        key = slices_key(dataset, version, split)
        await store.upload_file(bucket, key, path, "application/x-ndjson")
        slices[split] = FileEntry(key=key, sha256=built.sha256[path], rows=built.splits[split].total)
        digests[path.name] = built.sha256[path]
    key = transformer_key(dataset, version)
    await store.upload_file(bucket, key, built.transformer, "application/json")
    transformer = FileEntry(key=key, sha256=built.sha256[built.transformer], rows=1)
    digests["transformer.json"] = transformer.sha256
    manifest = Manifest(
        dataset=dataset,
        version=version,
        source=S3Location(bucket=info.bucket, key=info.key, version_id=info.version_id, etag=info.etag),
        input_sha256=spilled.input_sha256,
        input_format=plan.format,
        encoding=plan.encoding,
        mapping=plan.mapping,
        normalisation=bench.config.normalisation,
        split=bench.config.split,
        labels=built.labels,
        slice_columns=list(plan.slice_columns),
        splits=built.splits,
        files=files,
        slices=slices,
        transformer=transformer,
        rows_in=spilled.rows_in,
        rows_dropped=dict(sorted(built.dropped.items())),
        output_digest=output_digest(digests),
        code_version=bench.code_version,
    )
    # Last: its presence tells every reader (and the trainer's S3 notification) that the version is complete.
    await store.put_bytes(
        bucket, manifest_key(dataset, version), json_bytes(manifest.model_dump(mode="json")), "application/json"
    )
    return manifest
