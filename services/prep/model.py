"""Prep's vocabulary: the preparation config (part of every version id), how a file is read, and a rejection."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.datasets import SplitConfig
from shared.events import ColumnMapping
from shared.textnorm import NormalisationConfig

# Bump when a code change alters output bytes for the same input and config, so it yields a new version id.
OUTPUT_FORMAT = 1

Format = Literal["csv", "tsv", "jsonl", "fasttext"]

# Reasons a row is dropped; the manifest counts rows per reason.
MALFORMED = "malformed"  # wrong number of fields, invalid JSON, broken quoting
LINE_TOO_LONG = "line_too_long"  # longer than max_record_chars: skipped without being held in memory
TEXT_TOO_LONG = "text_too_long"
EMPTY_TEXT = "empty_text"
MISSING_LABEL = "missing_label"
MULTIPLE_LABELS = "multiple_labels"
BLANK_LINE = "blank_line"
DUPLICATE = "duplicate"  # same normalised text and label as an earlier row: one copy is kept
CONFLICTING_LABEL = "conflicting_label"  # same normalised text with different labels: every copy is dropped


class PrepConfig(BaseModel):
    """Everything besides the input bytes that decides the output bytes; hashed into the version id."""

    model_config = ConfigDict(frozen=True)

    output_format: int = OUTPUT_FORMAT
    normalisation: NormalisationConfig
    split: SplitConfig
    min_per_class: int
    max_text_chars: int
    max_record_chars: int
    top_tokens: int
    vocab_capacity: int
    vocab_sample_texts: int = 500_000


class ReadPlan(BaseModel):
    """How to read one raw file: its encoding, format, header and which columns hold text, label and slices."""

    model_config = ConfigDict(frozen=True)

    encoding: str
    format: Format
    delimiter: str | None = None  # csv/tsv
    has_header: bool = False
    columns: tuple[str, ...] = ()  # csv/tsv: header names, or "0", "1", ... without a header; jsonl: keys seen
    text_column: str
    label_column: str
    slice_columns: tuple[str, ...] = ()
    origin: str = "detected"  # where the mapping came from: metadata, schema, detected (or a mix)

    @property
    def mapping(self) -> ColumnMapping:
        return ColumnMapping(
            format=self.format,
            has_header=self.has_header,
            text_column=self.text_column,
            label_column=self.label_column,
            slice_columns=self.slice_columns,
        )

    def index(self, column: str) -> int:
        """Position of a csv/tsv column named by header name or by 0-based index."""
        return self.columns.index(column)


class Rejected(Exception):
    """The file cannot become a data set; `reason` says why in one line, `details` give the evidence."""

    def __init__(self, reason: str, details: list[str] | None = None, stats: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details or []
        self.stats = stats or {}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def version_id(input_sha256: str, config: PrepConfig, plan: ReadPlan) -> str:
    """`<input digest>-<config digest>`: the same bytes read the same way with the same config, the same version."""
    recipe: dict[str, Any] = {
        "config": config.model_dump(mode="json"),
        "mapping": plan.mapping.model_dump(mode="json"),
        "encoding": plan.encoding,
        "delimiter": plan.delimiter,
    }
    return f"{input_sha256[:12]}-{hashlib.sha256(canonical_json(recipe)).hexdigest()[:8]}"
