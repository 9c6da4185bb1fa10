"""The bounded index of recent predictions that `/v1/feedback` validates against, and the feedback writer."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from services.inference.metrics import FEEDBACK
from services.inference.storage import ObjectStore
from shared.capture import FeedbackRecord, feedback_key


@dataclass(frozen=True)
class Issued:
    """What feedback on a prediction needs to know: which model made it and which labels that model knows."""

    model_name: str
    version: int
    labels: tuple[str, ...]
    label: str


class RecentPredictions:
    """Prediction id -> Issued, the `capacity` most recent (older ids are forgotten first: O(1) per id)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Issued] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def remember(self, prediction_id: str, issued: Issued) -> None:
        self._items[prediction_id] = issued
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, prediction_id: str) -> Issued | None:
        return self._items.get(prediction_id)


class FeedbackWriter:
    """Stores each ground-truth label as its own small JSONL object, durably before the request is answered."""

    def __init__(self, store: ObjectStore, bucket: str, environment: str) -> None:
        self.store = store
        self.bucket = bucket
        self.environment = environment

    async def store_label(self, prediction_id: str, label: str, issued: Issued) -> str:
        moment = datetime.now(UTC)
        record = FeedbackRecord(
            prediction_id=prediction_id,
            ts=moment,
            environment=self.environment,
            label=label,
            model_name=issued.model_name,
            version=issued.version,
            predicted=issued.label,
        )
        key = feedback_key(self.environment, moment, f"{moment:%Y%m%dT%H%M%S}-{uuid.uuid4().hex}")
        body = orjson.dumps(record.model_dump(mode="json")) + b"\n"
        await self.store.put_bytes(self.bucket, key, body, "application/x-ndjson")
        FEEDBACK.inc()
        return key
