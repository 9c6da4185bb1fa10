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


# ------------------------------------------------------------------------------------- raw uploads
# A raw object's column mapping and provenance travel as S3 user metadata (x-amz-meta-*), so a file uploaded by the
# ingest API and a file dropped into raw/ by any S3 client are read the same way. Keys are lowercase (S3 lowercases).
RAW_META_PREFIX = "mlops-"
SCHEMA_FILE = "_schema.json"  # raw/{dataset}/_schema.json: the data set's default mapping; never a data file


def mapping_to_metadata(mapping: ColumnMapping, *, correlation_id: str, upload_id: str) -> dict[str, str]:
    meta = {"correlation-id": correlation_id, "upload-id": upload_id}
    if mapping.format:
        meta["format"] = mapping.format
    if mapping.has_header is not None:
        meta["has-header"] = "true" if mapping.has_header else "false"
    if mapping.text_column:
        meta["text-column"] = mapping.text_column
    if mapping.label_column:
        meta["label-column"] = mapping.label_column
    if mapping.slice_columns:
        meta["slice-columns"] = ",".join(mapping.slice_columns)
    return {RAW_META_PREFIX + k: v for k, v in meta.items()}


def mapping_from_metadata(metadata: dict[str, str]) -> tuple[ColumnMapping | None, dict[str, str]]:
    """The mapping (None when the object carries none) and the provenance fields (correlation-id, upload-id)."""
    meta = {
        k.lower().removeprefix(RAW_META_PREFIX): v for k, v in metadata.items() if k.lower().startswith(RAW_META_PREFIX)
    }
    provenance: dict[str, str] = {k: meta[k] for k in ("correlation-id", "upload-id") if k in meta}
    fields: dict[str, Any] = {}
    if "format" in meta:
        fields["format"] = meta["format"]
    if "has-header" in meta:
        fields["has_header"] = meta["has-header"].lower() == "true"
    if "text-column" in meta:
        fields["text_column"] = meta["text-column"]
    if "label-column" in meta:
        fields["label_column"] = meta["label-column"]
    if meta.get("slice-columns"):
        fields["slice_columns"] = tuple(c for c in meta["slice-columns"].split(",") if c)
    return (ColumnMapping(**fields) if fields else None), provenance


def dataset_of_raw_key(key: str) -> str | None:
    """`raw/{dataset}/...` -> dataset; a file directly under raw/ names its data set by its stem."""
    rest = key.removeprefix("raw/")
    if rest == key or not rest:
        return None
    head, _, tail = rest.partition("/")
    name = head if tail else head.rsplit(".", 1)[0]
    return name if valid_dataset_name(name) else None
