"""Prep's settings (`PREP_*`), validated at start-up. Everything that changes output bytes is part of `PrepConfig`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.prep.model import PrepConfig
from shared.datasets import SplitConfig
from shared.textnorm import NormalisationConfig

MiB = 1024 * 1024


class PrepSettings(BaseSettings):
    """How prep validates, cleans and splits (recorded in every manifest), and how much memory and disk it may use."""

    model_config = SettingsConfigDict(env_prefix="PREP_", extra="ignore", frozen=True)

    train_ratio: float = Field(0.8, gt=0, lt=1)
    dev_ratio: float = Field(0.1, ge=0, lt=1)
    test_ratio: float = Field(0.1, ge=0, lt=1)
    seed: int = Field(13, ge=0, description="Seed of the split hash: another seed gives another split.")
    min_per_class: int = Field(
        10, ge=1, description="Fewest rows a label needs after cleaning, or the file is rejected."
    )
    max_text_chars: int = Field(20_000, ge=10, description="Longer texts are dropped (reason text_too_long).")
    max_record_chars: int = Field(
        1_000_000, ge=1000, description="A line or CSV record longer than this is skipped unread (line_too_long)."
    )
    normalisation: NormalisationConfig = Field(
        default_factory=NormalisationConfig, description='JSON, e.g. {"lowercase": true}.'
    )
    top_tokens: int = Field(2000, ge=10, description="Most frequent training tokens kept in transformer.json.")
    vocab_capacity: int = Field(
        200_000, ge=1000, description="Distinct tokens counted exactly before counting turns lossy (bounded memory)."
    )
    vocab_sample_texts: int = Field(
        500_000, ge=1000, description="Training texts whose tokens are counted (a uniform sample beyond that)."
    )
    sample_bytes: int = Field(256 * 1024, ge=4096, description="Bytes read up front to detect encoding and format.")
    partition_bytes: int = Field(8 * MiB, ge=64 * 1024, description="Target size of one spill partition in memory.")
    max_partitions: int = Field(512, ge=1, le=4096)
    part_size: int = Field(16 * MiB, ge=5 * MiB, description="S3 multipart part size of outputs.")
    max_parallel_jobs: int = Field(1, ge=1, description="Files prepared at once (each adds up to ~100 MB).")
    work_dir: Path | None = Field(None, description="Scratch space for spill files (default <data_dir>/prep-work).")
    progress_every: int = Field(250_000, ge=1, description="Log progress every this many rows.")

    @model_validator(mode="after")
    def _consistent(self) -> PrepSettings:
        if abs(self.train_ratio + self.dev_ratio + self.test_ratio - 1.0) > 1e-9:
            raise ValueError("train_ratio + dev_ratio + test_ratio must be 1")
        if not (self.normalisation.strip_control or self.normalisation.collapse_whitespace):
            # Corpora are one text per line: something must turn newlines and tabs inside texts into spaces.
            raise ValueError("normalisation needs strip_control or collapse_whitespace")
        return self

    def config(self) -> PrepConfig:
        return PrepConfig(
            normalisation=self.normalisation,
            split=SplitConfig(train=self.train_ratio, dev=self.dev_ratio, test=self.test_ratio, seed=self.seed),
            min_per_class=self.min_per_class,
            max_text_chars=self.max_text_chars,
            max_record_chars=self.max_record_chars,
            top_tokens=self.top_tokens,
            vocab_capacity=self.vocab_capacity,
            vocab_sample_texts=self.vocab_sample_texts,
        )
