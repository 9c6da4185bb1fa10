"""The traffic-capture contract between inference (writer) and monitor (reader).

Inference writes sampled requests and predictions as batched JSONL objects under
`capture/{env}/{model}/{yyyy}/{mm}/{dd}/{hh}/{batch-id}.jsonl`, and ground-truth labels sent to `/v1/feedback` under
`feedback/{env}/{yyyy}/{mm}/{dd}/{batch-id}.jsonl`. The monitor reads a time window of both and joins them on
`prediction_id`. One record per line; a line that does not parse is counted and skipped, never fatal.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class CaptureRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    prediction_id: str
    ts: datetime
    environment: str
    model_name: str
    version: int
    text: str  # as normalised for the model (what the model saw)
    label: str
    probability: float
    probabilities: dict[str, float] = {}


class FeedbackRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    prediction_id: str
    ts: datetime
    environment: str
    label: str


def _hour_path(moment: datetime) -> str:
    return moment.strftime("%Y/%m/%d/%H")


def capture_key(env: str, model_name: str, moment: datetime, batch_id: str) -> str:
    return f"capture/{env}/{model_name}/{_hour_path(moment)}/{batch_id}.jsonl"


def feedback_key(env: str, moment: datetime, batch_id: str) -> str:
    return f"feedback/{env}/{moment.strftime('%Y/%m/%d')}/{batch_id}.jsonl"


def capture_prefix(env: str, model_name: str | None = None) -> str:
    return f"capture/{env}/" + (f"{model_name}/" if model_name else "")


def feedback_prefix(env: str) -> str:
    return f"feedback/{env}/"
