"""The prepared-data contract between prep (writer) and trainer, registry, inference and monitor (readers).

Layout under `processed/{dataset}/{version}/`:
  train.txt, dev.txt, test.txt   Flair FastText format, one `__label__<label> <text>` per line
  <split>.slices.jsonl          one JSON object per corpus line with that row's slice-column values (when any)
  transformer.json              the fitted transformer: normalisation config, label dictionary, vocabulary stats
  manifest.json                 written last; its presence means the version is complete
The version id is a digest of the input bytes and the preparation config, so the same input always gives the same
version and the same bytes.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.events import ColumnMapping, S3Location, SplitCounts
from shared.textnorm import NormalisationConfig

SPLITS = ("train", "dev", "test")
LABEL_PREFIX = "__label__"
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def valid_dataset_name(name: str) -> bool:
    return bool(_DATASET_NAME.match(name))


def processed_prefix(dataset: str, version: str) -> str:
    return f"processed/{dataset}/{version}/"


def corpus_key(dataset: str, version: str, split: str) -> str:
    return f"{processed_prefix(dataset, version)}{split}.txt"


def slices_key(dataset: str, version: str, split: str) -> str:
    return f"{processed_prefix(dataset, version)}{split}.slices.jsonl"


def transformer_key(dataset: str, version: str) -> str:
    return f"{processed_prefix(dataset, version)}transformer.json"


def manifest_key(dataset: str, version: str) -> str:
    return f"{processed_prefix(dataset, version)}manifest.json"


def label_token(label: str) -> str:
    """A label as it appears after `__label__` (FastText labels cannot hold whitespace)."""
    return re.sub(r"\s+", "_", label.strip())


class SplitConfig(BaseModel):
    model_config = ConfigDict(frozen=True)
    train: float = 0.8
    dev: float = 0.1
    test: float = 0.1
    seed: int = 13


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    sha256: str
    rows: int


class Transformer(BaseModel):
    """The fitted data transformer, stored as JSON (never pickle: a pickle read from S3 runs code)."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    dataset: str
    version: str
    normalisation: NormalisationConfig
    labels: list[str]
    label_tokens: dict[str, str]
    vocabulary: dict[str, Any]  # size, top tokens with counts, token length stats (for OOV share in monitoring)
    text_length: dict[str, float]  # chars: mean, p50, p95, max of the training split


class Manifest(BaseModel):
    """What a prepared version contains; written last, after every file it names."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    dataset: str
    version: str
    source: S3Location
    input_sha256: str
    input_format: str
    encoding: str
    mapping: ColumnMapping
    normalisation: NormalisationConfig
    split: SplitConfig
    labels: list[str]
    slice_columns: list[str] = []
    splits: dict[str, SplitCounts]
    files: dict[str, FileEntry]
    slices: dict[str, FileEntry] = {}
    transformer: FileEntry
    rows_in: int
    rows_dropped: dict[str, int] = {}
    output_digest: str
    code_version: str
