"""Prep's handler wired with fakes of its own ports: in-memory object store, publisher and idempotency store (the job
records use a real SQLite file)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.prep.handlers import PrepDeps, handler_table
from services.prep.jobs import JobStore
from services.prep.settings import PrepSettings
from services.prep.store import MemoryStore
from services.prep.workflow import Workbench
from shared.bus import MessageBus
from shared.db import create_engine
from shared.events import Envelope
from shared.idempotency import MemoryIdempotencyStore
from shared.messages import S3_OBJECT_CREATED, S3ObjectEvent
from shared.publisher import MemoryPublisher

BUCKET = "home"


@dataclass
class Prep:
    store: MemoryStore
    publisher: MemoryPublisher
    bus: MessageBus
    deps: PrepDeps

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> S3ObjectEvent:
        self.store.put(BUCKET, key, data, metadata)
        return created(key, etag=f"etag-{len(data)}")

    def events(self, event_type: str) -> list[Envelope]:
        return self.publisher.of_type(event_type)

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for b, k in self.store.objects if k.startswith(prefix))


def created(key: str, etag: str = "e1", version_id: str | None = None) -> S3ObjectEvent:
    return S3ObjectEvent(
        type=S3_OBJECT_CREATED,
        event_name="ObjectCreated:Put",
        event_time="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        bucket=BUCKET,
        key=key,
        etag=etag,
        version_id=version_id,
    )


def settings(**overrides: Any) -> PrepSettings:
    return PrepSettings(**{"min_per_class": 2, "partition_bytes": 64 * 1024, **overrides})


@pytest.fixture
async def prep(tmp_path: Path) -> AsyncIterator[Prep]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/prep.db")
    jobs = JobStore(engine)
    await jobs.create_schema()
    store, publisher = MemoryStore(), MemoryPublisher()
    config = settings()
    with ThreadPoolExecutor(2) as executor:
        bench = Workbench(
            store=store,
            settings=config,
            config=config.config(),
            bucket=BUCKET,
            code_version="test",
            work_dir=tmp_path / "work",
            executor=executor,
            slots=asyncio.Semaphore(1),
        )
        (tmp_path / "work").mkdir()
        deps = PrepDeps(bench=bench, jobs=jobs)
        bus = MessageBus("prep", handler_table(deps), publisher, MemoryIdempotencyStore())
        yield Prep(store, publisher, bus, deps)
    await engine.dispose()


@dataclass
class Local:
    """The blocking core run on bytes, without S3: what phase 1 and phase 2 produce."""

    plan: Any
    rows_in: int
    built: Any
    version: str
    out: Path

    def corpus(self, split: str) -> list[str]:
        return self.built.corpora[split].read_text(encoding="utf-8").splitlines()


def prepare_bytes(data: bytes, tmp: Path, filename: str = "data.csv", mapping: Any = None, **overrides: Any) -> Local:
    import io

    from services.prep.encoding import detect_encoding
    from services.prep.model import version_id
    from services.prep.partitions import Spill
    from services.prep.pipeline import Spilled, build_outputs, read_and_spill
    from services.prep.plan import build_plan
    from services.prep.streams import HashingReader
    from services.prep.workflow import partitions_for

    config = settings(**overrides)
    head = data[: config.sample_bytes]
    complete = len(data) <= config.sample_bytes
    plan = build_plan(head, detect_encoding(head, [], complete), complete, filename, mapping, "test")
    tmp.mkdir(parents=True, exist_ok=True)
    spill = Spill(tmp, partitions_for(len(data), config), config.seed)
    raw = HashingReader(io.BytesIO(data))
    rows, dropped = read_and_spill(raw, plan, config.config(), spill)
    spilled = Spilled(rows, dropped, raw.sha256.hexdigest(), raw.size, spill.paths)
    version = version_id(spilled.input_sha256, config.config(), plan)
    out = tmp / "out"
    out.mkdir()
    built = build_outputs(spilled, plan, config.config(), "ds", version, out)
    return Local(plan, rows, built, version, out)
