"""The column mapping a client sends with a file, validated at the edge before anything is written.

A mapping travels as S3 user metadata (`shared.datasets.mapping_to_metadata`), so besides being coherent it must fit
what S3 metadata can carry: ASCII only, and about 2 KB in total.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.datasets import mapping_to_metadata
from shared.events import ColumnMapping

FORMATS = ("csv", "tsv", "jsonl", "fasttext")  # the Literal of ColumnMapping.format
S3_METADATA_LIMIT = 2048  # S3 caps user metadata (keys + values) at 2 KB
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
MAX_COLUMN_NAME = 128


class MappingError(ValueError):
    """The mapping is unusable; the message says why (it becomes the 422 detail)."""


def parse_bool(name: str, value: str | bool | None) -> bool | None:
    """A form boolean: true/false, 1/0, yes/no, on/off; empty means "not given"."""
    if value is None or isinstance(value, bool):
        return value
    text = value.strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MappingError(f"{name} must be true or false, not {value!r}")


def split_columns(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """`a,b` or `["a", "b"]` -> ("a", "b"); blanks between commas are an error, not silently dropped."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    if isinstance(value, str) and not value.strip():
        return ()
    columns = tuple(str(item).strip() for item in items)
    if any(not c for c in columns):
        raise MappingError(f"slice_columns has an empty column name: {value!r}")
    return columns


def _check_name(field: str, column: str, as_metadata: bool) -> None:
    if len(column) > MAX_COLUMN_NAME:
        raise MappingError(f"{field} is longer than {MAX_COLUMN_NAME} characters")
    if not column.isprintable():
        raise MappingError(f"{field} {column!r} holds control characters")
    if as_metadata and not column.isascii():
        # S3 metadata is ASCII; a schema file (JSON) has no such limit.
        raise MappingError(
            f"{field} {column!r} must be printable ASCII to travel as S3 metadata; "
            "use 0-based column indexes or the data set's schema file (PUT /v1/datasets/{dataset}/schema)"
        )
    if "," in column:
        raise MappingError(f"{field} {column!r} must not contain a comma")


def _is_index(column: str) -> bool:
    return column.isdigit()


def _check_refs(mapping: ColumnMapping, as_metadata: bool) -> None:
    named = {"text_column": mapping.text_column, "label_column": mapping.label_column}
    refs = [(field, col) for field, col in named.items() if col] + [("slice_columns", c) for c in mapping.slice_columns]
    if mapping.format == "fasttext" and refs:
        raise MappingError("fasttext files have no columns: drop text_column, label_column and slice_columns")
    for field, column in refs:
        _check_name(field, column, as_metadata)
    columns = [col for _, col in refs]
    if len(set(columns)) != len(columns):
        raise MappingError(f"a column is used twice across text_column, label_column and slice_columns: {columns}")
    if mapping.has_header is False and mapping.format != "jsonl":
        if bad := [col for col in columns if not _is_index(col)]:
            raise MappingError(f"a file without a header names its columns by 0-based index, not {bad}")
    elif mapping.has_header is None and columns and len({_is_index(c) for c in columns}) > 1:
        raise MappingError(f"columns mix names and indexes: {columns}; set has_header to say which")


def _check_metadata_size(mapping: ColumnMapping) -> None:
    meta = mapping_to_metadata(mapping, correlation_id="0" * 32, upload_id="0" * 32)
    if sum(len(k) + len(v) for k, v in meta.items()) > S3_METADATA_LIMIT - 256:
        raise MappingError("the mapping is too long to travel as S3 metadata (2 KB); use the schema file")


def build_mapping(
    *,
    format: str | None = None,
    has_header: str | bool | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    slice_columns: str | Sequence[str] | None = None,
    as_metadata: bool = True,
) -> ColumnMapping:
    """A validated ColumnMapping from what a client sent (form fields or JSON); raises MappingError.

    `as_metadata`: the mapping will travel as S3 object metadata (ASCII, 2 KB), not in a schema file (JSON).
    """
    fmt = (format or "").strip().lower() or None
    if fmt is not None and fmt not in FORMATS:
        raise MappingError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    try:
        mapping = ColumnMapping(
            format=fmt,  # type: ignore[arg-type]
            has_header=parse_bool("has_header", has_header),
            text_column=(text_column or "").strip() or None,
            label_column=(label_column or "").strip() or None,
            slice_columns=split_columns(slice_columns),
        )
    except ValidationError as exc:
        raise MappingError(str(exc)) from exc
    _check_refs(mapping, as_metadata)
    if as_metadata:
        _check_metadata_size(mapping)
    return mapping


class MappingIn(BaseModel):
    """How to read a file; every field is optional (prep detects what is missing, or rejects an ambiguous file)."""

    model_config = ConfigDict(extra="forbid")

    format: str | None = Field(None, description="csv, tsv, jsonl or fasttext", examples=["csv"])
    has_header: bool | None = Field(None, description="Whether the first line names the columns (csv/tsv).")
    text_column: str | None = Field(None, description="Column with the text: a name, or a 0-based index.")
    label_column: str | None = Field(None, description="Column with the label: a name, or a 0-based index.")
    slice_columns: list[str] | str | None = Field(
        None, description="Columns kept for slice analysis (fairness): names or indexes, a list or `a,b`."
    )

    @field_validator("text_column", "label_column", mode="before")
    @classmethod
    def _index_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("slice_columns", mode="before")
    @classmethod
    def _indexes_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    def to_mapping(self, *, as_metadata: bool = True) -> ColumnMapping:
        return build_mapping(
            as_metadata=as_metadata,
            format=self.format,
            has_header=self.has_header,
            text_column=self.text_column,
            label_column=self.label_column,
            slice_columns=self.slice_columns,
        )
