"""Inference's settings (`INFERENCE_*`), validated at start-up."""

from __future__ import annotations

import os
import uuid
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import Environment

MiB = 1024 * 1024


def _cores() -> int:
    # The cores this process may run on (a container's CPU set), not the host's count.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class InferenceSettings(BaseSettings):
    """What to serve, how to batch, how much to accept, what to capture."""

    model_config = SettingsConfigDict(env_prefix="INFERENCE_", extra="ignore", frozen=True)

    model_env: Environment = Field(
        "dev",
        validation_alias=AliasChoices("INFERENCE_MODEL_ENV", "MODEL_ENV"),
        description="Environment whose registry alias this service serves (MODEL_ENV).",
    )
    model_name: str | None = Field(
        None, description="Model to serve; unset: the model the environment's latest promotion names."
    )
    replica_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:10],
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="Names this replica's fan-out queue (default: random per process start).",
    )
    alias_check_seconds: float = Field(30.0, gt=0, description="Safety-net poll of the registry alias.")
    registry_timeout: float = Field(5.0, gt=0)
    refused_retry_seconds: float = Field(
        600.0, ge=0, description="A refused artifact (bad checksum) is not downloaded again before this."
    )
    # ---------------------------------------------------------------------------------------- batching
    batching: bool = Field(True, description="False: one forward pass per request (the benchmark's baseline).")
    max_batch_texts: int = Field(64, ge=1, le=4096, description="Most texts in one forward pass.")
    max_wait_ms: float = Field(
        2.0, ge=0, le=1000, description="Longest a text waits for others to join its batch (from its arrival)."
    )
    max_queue_texts: int = Field(
        1024, ge=1, description="Texts waiting for the model; past this, 429 with Retry-After."
    )
    pass_texts: int = Field(
        0,
        ge=0,
        le=4096,
        description="Most texts per forward pass inside a batch, in length order (0: one pass per batch). Set it "
        "for transformer models: padding short texts to the batch's longest costs more than batching saves.",
    )
    torch_threads: int = Field(default_factory=_cores, ge=1, description="Intra-op threads of the forward pass.")
    runner: Literal["thread", "process"] = Field(
        "thread",
        description="Where the model runs: 'thread', the model thread of this process; 'process', a worker process "
        "per loaded model, so that a model whose pass is Python (holding the GIL) runs in parallel with HTTP.",
    )
    # ------------------------------------------------------------------------------------------- input
    max_texts: int = Field(64, ge=1, le=10_000, description="Most texts in one request.")
    max_text_chars: int = Field(10_000, ge=1, description="Longest text accepted (characters, before cleaning).")
    max_body_bytes: int = Field(1 * MiB, ge=1024, description="Larger request bodies get 413.")
    recent_predictions: int = Field(
        200_000, ge=100, description="Prediction ids remembered for feedback (oldest forgotten first)."
    )
    # ----------------------------------------------------------------------------------------- capture
    capture_sample_rate: float = Field(1.0, ge=0, le=1, description="Share of requests captured to S3.")
    capture_flush_records: int = Field(500, ge=1, description="Flush once this many records are buffered.")
    capture_flush_seconds: float = Field(10.0, gt=0, description="Flush at least this often.")
    capture_max_buffer: int = Field(
        20_000, ge=1, description="Records kept while S3 is unreachable; past this new records are dropped."
    )
    access_log: bool = Field(False, description="uvicorn access lines (costly at thousands of requests/s).")

    @model_validator(mode="after")
    def _consistent(self) -> InferenceSettings:
        if self.capture_max_buffer < self.capture_flush_records:
            raise ValueError("capture_max_buffer must be at least capture_flush_records")
        return self
