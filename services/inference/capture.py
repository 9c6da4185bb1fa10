"""Traffic capture for the monitor (contract: shared.capture): sampled predictions buffered in memory and written
to S3 `capture/` as batched JSONL, by size and by time, and once more on shutdown.

Capture must never slow or fail a prediction: the request path only appends to a deque. When S3 is unreachable the
unwritten records stay buffered up to `max_buffer`; past that, new records are dropped and counted
(`inference_capture_dropped_total`), so memory stays bounded whatever S3 does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import orjson

from services.inference.metrics import CAPTURE_BUFFERED, CAPTURE_DROPPED, CAPTURE_FLUSH_FAILURES, CAPTURED
from services.inference.storage import ObjectStore
from shared.capture import capture_key
from shared.events import Envelope, PredictionCaptured, S3Location
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureSettings:
    environment: str
    bucket: str
    sample_rate: float = 1.0
    flush_records: int = 500
    flush_seconds: float = 10.0
    max_buffer: int = 20_000


class CaptureBuffer:
    def __init__(
        self,
        settings: CaptureSettings,
        store: ObjectStore,
        publisher: EventPublisher,
        sample: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self._sample = sample
        self._records: deque[dict[str, Any]] = deque()
        self._due = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.dropped = 0
        self.written = 0

    def __len__(self) -> int:
        return len(self._records)

    def sampled(self) -> bool:
        """Whether to capture this request (decided once per request, so its texts stay together)."""
        rate = self.settings.sample_rate
        return rate >= 1.0 or (rate > 0 and self._sample() < rate)

    def add(self, records: list[dict[str, Any]]) -> None:
        """Buffer records (CaptureRecord fields); never blocks, never raises."""
        room = self.settings.max_buffer - len(self._records)
        if room < len(records):
            lost = len(records) - max(room, 0)
            self.dropped += lost
            CAPTURE_DROPPED.inc(lost)
            records = records[: max(room, 0)]
        self._records.extend(records)
        CAPTURE_BUFFERED.set(len(self._records))
        if len(self._records) >= self.settings.flush_records:
            self._due.set()

    async def run(self) -> None:
        """Background task: flush when enough records are buffered or `flush_seconds` passed; flush on shutdown."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), self.settings.flush_seconds)
                self._due.clear()
                await self.flush()
        finally:
            await self.flush()

    async def flush(self) -> int:
        """Write everything buffered (one object per model version); on failure keep it for the next flush."""
        async with self._flush_lock:
            written = 0
            while self._records:
                batch = [self._records.popleft() for _ in range(min(len(self._records), self.settings.flush_records))]
                try:
                    written += await self._write(batch)
                except Exception as exc:
                    CAPTURE_FLUSH_FAILURES.inc()
                    log.warning("capture flush of %d records failed, keeping them: %s", len(batch), exc)
                    self._records.extendleft(reversed(batch))
                    break
            CAPTURE_BUFFERED.set(len(self._records))
            return written

    async def _write(self, batch: list[dict[str, Any]]) -> int:
        written = 0
        batch.sort(key=_model_of)
        for (name, version), group in groupby(batch, key=_model_of):
            records = list(group)
            moment = datetime.now(UTC)
            key = capture_key(self.settings.environment, name, moment, f"{moment:%Y%m%dT%H%M%S}-{uuid.uuid4().hex}")
            body = b"".join(orjson.dumps(record) + b"\n" for record in records)
            await self.store.put_bytes(self.settings.bucket, key, body, "application/x-ndjson")
            written += len(records)
            self.written += len(records)
            CAPTURED.inc(len(records))
            await self._announce(name, version, key, len(records))
        return written

    async def _announce(self, name: str, version: int, key: str, count: int) -> None:
        payload = PredictionCaptured(
            environment=self.settings.environment,
            model_name=name,
            version=version,
            capture=S3Location(bucket=self.settings.bucket, key=key),
            records=count,
        )
        try:  # the records are in S3 already; a lost announcement only delays the monitor's next read
            await self.publisher.publish(Envelope.wrap(payload, source="inference", correlation_id=key))
        except Exception as exc:
            log.warning("could not publish prediction.captured for %s: %s", key, exc)


def _model_of(record: dict[str, Any]) -> tuple[str, int]:
    return (str(record["model_name"]), int(record["version"]))
