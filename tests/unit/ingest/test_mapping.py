"""Mapping fields from a form or JSON: validated at the edge, with the reason in the error."""

from __future__ import annotations

import pytest

from services.ingest.mapping import MappingError, MappingIn, build_mapping
from shared.datasets import mapping_from_metadata, mapping_to_metadata


def test_full_mapping_round_trips_through_s3_metadata() -> None:
    mapping = build_mapping(
        format="CSV", has_header="yes", text_column="text", label_column="label", slice_columns="channel, region"
    )
    assert mapping.format == "csv" and mapping.has_header is True
    assert mapping.slice_columns == ("channel", "region")
    meta = mapping_to_metadata(mapping, correlation_id="c1", upload_id="u1")
    back, provenance = mapping_from_metadata(meta)
    assert back == mapping and provenance == {"correlation-id": "c1", "upload-id": "u1"}


def test_nothing_given_is_an_empty_mapping() -> None:
    mapping = build_mapping(format="", has_header="", text_column=" ", slice_columns="")
    assert mapping.model_dump(exclude_defaults=True) == {}


def test_indexes_for_files_without_header() -> None:
    mapping = build_mapping(format="tsv", has_header="false", text_column="1", label_column="0")
    assert (mapping.text_column, mapping.label_column, mapping.has_header) == ("1", "0", False)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"format": "xlsx"}, "unknown format 'xlsx'"),
        ({"has_header": "maybe"}, "has_header must be true or false"),
        ({"slice_columns": "a,,b"}, "empty column name"),
        ({"text_column": "t", "slice_columns": "t"}, "used twice"),
        ({"slice_columns": "a,a"}, "used twice"),
        ({"has_header": "false", "text_column": "text"}, "0-based index"),
        ({"text_column": "0", "label_column": "label"}, "mix names and indexes"),
        ({"format": "fasttext", "text_column": "text"}, "fasttext files have no columns"),
        ({"text_column": "Überschrift"}, "printable ASCII"),
        ({"text_column": "a\x00b"}, "control characters"),
        ({"slice_columns": ",".join(f"column_{i:04d}_with_a_long_name" for i in range(80))}, "too long"),
    ],
)
def test_bad_mappings_say_why(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        build_mapping(**fields)  # type: ignore[arg-type]


def test_json_mapping_accepts_lists_and_integer_indexes() -> None:
    body = MappingIn.model_validate({"has_header": False, "text_column": 1, "label_column": 0, "slice_columns": [2, 3]})
    mapping = body.to_mapping()
    assert (mapping.text_column, mapping.label_column, mapping.slice_columns) == ("1", "0", ("2", "3"))


def test_schema_file_mapping_may_use_any_unicode_name() -> None:
    body = MappingIn.model_validate({"text_column": "Überschrift", "label_column": "Kategorie"})
    assert body.to_mapping(as_metadata=False).text_column == "Überschrift"
    with pytest.raises(MappingError):
        body.to_mapping()
