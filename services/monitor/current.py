"""The current data of a run: captured traffic of one model version in a time window, with feedback labels joined.

Capture files are partitioned by the hour they were written (`shared.capture`), so a window lists only its days and
keeps keys of its hours (plus one hour of slack: a batch is written after its records). Records are filtered by
their own timestamp. A line that does not parse is counted and skipped.

Rows are kept by reservoir sampling with a seeded generator: whether the window holds five hundred records or five
million, the run compares the same number of rows drawn uniformly, in bounded memory, and the same window always
gives the same sample.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import ValidationError

from services.monitor.storage import ObjectStore
from shared.capture import CaptureRecord, FeedbackRecord, capture_prefix, feedback_prefix

CURRENT_COLUMNS = ("prediction_id", "ts", "text", "prediction", "probability", "truth")
FETCH_CONCURRENCY = 8


class Reservoir:
    """A uniform random sample of at most `size` items of a stream (Algorithm R), seeded."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng = size, rng
        self.items: list[dict[str, Any]] = []
        self.seen = 0

    def offer(self, item: dict[str, Any]) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        slot = self.rng.randrange(self.seen)
        if slot < self.size:
            self.items[slot] = item


@dataclass
class CurrentWindow:
    """What a run compares: a sample of the window's records and of its labelled records, and the counts."""

    start: datetime
    end: datetime
    rows: pd.DataFrame
    labelled: pd.DataFrame
    records: int = 0  # of this model version, inside the window
    labelled_records: int = 0
    corrupted: int = 0
    other_versions: int = 0
    files: int = 0
    feedback_files: int = 0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "records": self.records,
            "sampled": len(self.rows),
            "labelled": self.labelled_records,
            "labelled_sampled": len(self.labelled),
            "corrupted_lines": self.corrupted,
            "other_versions": self.other_versions,
            "capture_files": self.files,
            "feedback_files": self.feedback_files,
        }


def _days(start: datetime, end: datetime) -> list[datetime]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    while day <= end:
        out.append(day)
        day += timedelta(days=1)
    return out


def _hour_of_key(key: str) -> datetime | None:
    """The hour partition of `.../{yyyy}/{mm}/{dd}/{hh}/{batch}.jsonl`, None for keys of another shape."""
    parts = key.split("/")
    try:
        y, m, d, h = (int(p) for p in parts[-5:-1])
        return datetime(y, m, d, h, tzinfo=UTC)
    except (ValueError, IndexError):
        return None


async def capture_keys(
    store: ObjectStore, bucket: str, env: str, model: str, start: datetime, end: datetime
) -> list[str]:
    slack_end = end + timedelta(hours=1)
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    keys: list[str] = []
    for day in _days(start, slack_end):
        prefix = f"{capture_prefix(env, model)}{day:%Y/%m/%d}/"
        for key in await store.keys(bucket, prefix):
            hour = _hour_of_key(key)
            if hour is not None and first_hour <= hour <= slack_end:
                keys.append(key)
    return sorted(keys)


async def _fetch_all(store: ObjectStore, bucket: str, keys: list[str]) -> list[bytes | None]:
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(key: str) -> bytes | None:
        async with gate:
            return await store.get(bucket, key)

    return await asyncio.gather(*(one(k) for k in keys))


def _lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    return [line for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]


async def read_feedback(
    store: ObjectStore, bucket: str, env: str, start: datetime, until: datetime
) -> tuple[dict[str, str], int, int]:
    """Latest label per prediction id sent from `start` until `until`; and (files, corrupted lines)."""
    keys: list[str] = []
    for day in _days(start, until):
        keys += await store.keys(bucket, f"{feedback_prefix(env)}{day:%Y/%m/%d}/")
    labels: dict[str, tuple[datetime, str]] = {}
    bad = 0
    for data in await _fetch_all(store, bucket, sorted(keys)):
        for line in _lines(data):
            try:
                record = FeedbackRecord.model_validate_json(line)
            except ValidationError:
                bad += 1
                continue
            seen = labels.get(record.prediction_id)
            if seen is None or _aware(record.ts) >= seen[0]:
                labels[record.prediction_id] = (_aware(record.ts), record.label)
    return {pid: label for pid, (_, label) in labels.items()}, len(keys), bad


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class WindowQuery:
    bucket: str
    environment: str
    model_name: str
    version: int
    start: datetime
    end: datetime
    sample_size: int
    seed: int
    feedback_grace_days: float = 14.0


async def read_window(store: ObjectStore, query: WindowQuery, now: datetime) -> CurrentWindow:
    """Sample the window's captured records (and labelled records) of the query's model version."""
    until = min(now, query.end + timedelta(days=query.feedback_grace_days))  # labels arrive after predictions
    feedback, feedback_files, bad_feedback = await read_feedback(
        store, query.bucket, query.environment, query.start, until
    )
    keys = await capture_keys(store, query.bucket, query.environment, query.model_name, query.start, query.end)
    seed = f"{query.seed}:{query.environment}:{query.start.isoformat()}:{query.end.isoformat()}"
    everything = Reservoir(query.sample_size, random.Random(seed))
    labelled = Reservoir(query.sample_size, random.Random(seed + ":labelled"))
    window = CurrentWindow(query.start, query.end, pd.DataFrame(), pd.DataFrame(), files=len(keys))
    window.feedback_files, window.corrupted = feedback_files, bad_feedback
    for offset in range(0, len(keys), 4 * FETCH_CONCURRENCY):  # bounded memory: a few files at a time
        batch = await _fetch_all(store, query.bucket, keys[offset : offset + 4 * FETCH_CONCURRENCY])
        # Parsing is CPU work: off the event loop, one batch at a time (the reservoirs see one writer).
        await asyncio.to_thread(_consume_files, batch, query, feedback, window, everything, labelled)
    window.records, window.labelled_records = everything.seen, labelled.seen
    window.rows = pd.DataFrame(everything.items, columns=list(CURRENT_COLUMNS))
    window.labelled = pd.DataFrame(labelled.items, columns=list(CURRENT_COLUMNS))
    return window


def _consume_files(batch: list[bytes | None], *args: Any) -> None:
    for data in batch:
        _consume(_lines(data), *args)


def _consume(
    lines: list[str],
    query: WindowQuery,
    feedback: dict[str, str],
    window: CurrentWindow,
    everything: Reservoir,
    labelled: Reservoir,
) -> None:
    for line in lines:
        try:
            record = CaptureRecord.model_validate_json(line)
        except (ValidationError, ValueError):
            window.corrupted += 1
            continue
        ts = _aware(record.ts)
        if not query.start <= ts < query.end:
            continue
        if record.model_name != query.model_name or record.version != query.version:
            window.other_versions += 1
            continue
        row = {
            "prediction_id": record.prediction_id,
            "ts": ts.isoformat(),
            "text": record.text,
            "prediction": record.label,
            "probability": float(record.probability),
            "truth": feedback.get(record.prediction_id),
        }
        everything.offer(row)
        if row["truth"] is not None:
            labelled.offer(row)
