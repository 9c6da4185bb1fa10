"""The capture buffer: batched JSONL per model version, bounded while S3 is down, drops counted, nothing lost
that fits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.inference.capture import CaptureBuffer, CaptureSettings
from services.inference.storage import MemoryStore
from shared.capture import CaptureRecord, capture_prefix
from shared.publisher import MemoryPublisher


def _records(n: int, version: int = 1, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "prediction_id": f"p{start + i}",
            "ts": datetime.now(UTC),
            "environment": "dev",
            "model_name": "m",
            "version": version,
            "text": "hello",
            "label": "a",
            "probability": 0.7,
            "probabilities": {"a": 0.7, "b": 0.3},
        }
        for i in range(n)
    ]


def _buffer(**overrides: Any) -> tuple[CaptureBuffer, MemoryStore, MemoryPublisher]:
    store, publisher = MemoryStore(), MemoryPublisher()
    settings = CaptureSettings(
        **{"environment": "dev", "bucket": "b", "flush_records": 10, "max_buffer": 25, **overrides}
    )
    return CaptureBuffer(settings, store, publisher), store, publisher


def _stored(store: MemoryStore) -> list[CaptureRecord]:
    return [
        CaptureRecord.model_validate_json(line)
        for (_, key), body in store.objects.items()
        for line in body.decode().splitlines()
    ]


async def test_flush_writes_one_jsonl_object_per_model_version_and_announces_it() -> None:
    buffer, store, publisher = _buffer()
    buffer.add(_records(3, version=1) + _records(2, version=2, start=3))
    assert await buffer.flush() == 5
    keys = store.keys(capture_prefix("dev", "m"))
    assert len(keys) == 2
    assert sorted(r.prediction_id for r in _stored(store)) == [f"p{i}" for i in range(5)]
    events = publisher.of_type("prediction.captured")
    assert sorted((e.payload.version, e.payload.records) for e in events) == [(1, 3), (2, 2)]  # type: ignore[attr-defined]
    assert {e.payload.capture.key for e in events} == set(keys)  # type: ignore[attr-defined]
    assert len(buffer) == 0


async def test_while_s3_is_down_the_buffer_is_bounded_and_drops_are_counted() -> None:
    buffer, store, _ = _buffer()
    store.down = True
    buffer.add(_records(20))
    assert await buffer.flush() == 0  # failed: kept for later
    buffer.add(_records(20, start=20))
    assert len(buffer) == 25 and buffer.dropped == 15
    store.down = False
    assert await buffer.flush() == 25
    assert sorted(int(r.prediction_id[1:]) for r in _stored(store)) == list(range(25))  # oldest kept, in order


async def test_sampling_decides_per_request() -> None:
    values = iter([0.05, 0.5, 0.09])
    buffer, _, _ = _buffer(sample_rate=0.1)
    buffer._sample = lambda: next(values)
    assert [buffer.sampled(), buffer.sampled(), buffer.sampled()] == [True, False, True]
    never, _, _ = _buffer(sample_rate=0.0)
    assert not never.sampled()
