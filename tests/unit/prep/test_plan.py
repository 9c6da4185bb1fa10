"""Format, header and column detection, and how a partial mapping is completed or refused."""

from __future__ import annotations

import json

import pytest

from services.prep.model import ReadPlan, Rejected
from services.prep.plan import build_plan
from shared.events import ColumnMapping
from tests.support.textdata import tickets, to_csv, to_tsv

RECORDS = tickets(300)


def plan(data: bytes, filename: str = "data.txt", mapping: ColumnMapping | None = None) -> ReadPlan:
    return build_plan(data, "utf-8", True, filename, mapping, "metadata")


def rejected(data: bytes, filename: str = "data.txt", mapping: ColumnMapping | None = None) -> Rejected:
    with pytest.raises(Rejected) as caught:
        plan(data, filename, mapping)
    return caught.value


def test_headerless_tsv_with_the_label_first_is_detected_by_content() -> None:
    found = plan(to_tsv(RECORDS, label_first=True))
    assert (found.format, found.has_header, found.text_column, found.label_column) == ("tsv", False, "1", "0")
    assert found.origin == "detected"


def test_headerless_tsv_with_trailing_spaces_and_odd_line_ends() -> None:
    lines = [f"{r['text']}  \t{r['label']}" for r in RECORDS]
    data = ("\r".join(lines[:100]) + "\r\n" + "\n".join(lines[100:])).encode()
    found = plan(data)
    assert (found.format, found.text_column, found.label_column) == ("tsv", "0", "1")


def test_csv_with_a_header_finds_columns_by_name() -> None:
    found = plan(to_csv(RECORDS), "tickets.csv")
    assert (found.format, found.delimiter, found.has_header) == ("csv", ",", True)
    assert (found.text_column, found.label_column, found.columns) == (
        "text",
        "label",
        ("text", "label", "channel", "region"),
    )


def test_header_of_unknown_names_is_recognised_by_content() -> None:
    data = b"utterance_txt;kind\n" + b"".join(f"{r['text']};{r['label']}\n".encode() for r in RECORDS)
    found = plan(data, "x.csv")
    assert (found.delimiter, found.has_header, found.text_column, found.label_column) == (
        ";",
        True,
        "utterance_txt",
        "kind",
    )


def test_csv_with_quoted_newlines() -> None:
    data = b"text,label\n" + b"".join(f'"{r["text"]}\nsecond line, here",{r["label"]}\n'.encode() for r in RECORDS)
    found = plan(data, "quoted.csv")
    assert (found.format, found.has_header, found.text_column) == ("csv", True, "text")


def test_jsonl_and_fasttext() -> None:
    data = "".join(json.dumps({"id": i, "body": r["text"], "intent": r["label"]}) + "\n" for i, r in enumerate(RECORDS))
    found = plan(data.encode())
    assert (found.format, found.text_column, found.label_column) == ("jsonl", "body", "intent")
    fasttext = "".join(f"__label__{r['label']} {r['text']}\n" for r in RECORDS).encode()
    assert plan(fasttext).format == "fasttext"


def test_the_mapping_wins_and_fills_only_what_is_missing() -> None:
    data = to_tsv(RECORDS, label_first=True)
    found = plan(data, mapping=ColumnMapping(format="tsv", has_header=False, text_column="1", label_column="0"))
    assert (found.text_column, found.label_column, found.origin) == ("1", "0", "metadata")
    partial = plan(data, mapping=ColumnMapping(label_column="0"))
    assert (partial.text_column, partial.origin) == ("1", "metadata+detected")


def test_slice_columns_are_taken_from_the_mapping_only() -> None:
    data = to_csv(RECORDS)
    assert plan(data, "t.csv").slice_columns == ()
    assert plan(data, "t.csv", ColumnMapping(slice_columns=("channel", "region"))).slice_columns == (
        "channel",
        "region",
    )


def test_unknown_columns_in_the_mapping_are_rejected() -> None:
    problem = rejected(to_csv(RECORDS), "t.csv", ColumnMapping(text_column="body", label_column="label"))
    assert problem.reason == "the mapping names a column the file does not have"
    assert "'body'" in problem.details[0]
    problem = rejected(to_csv(RECORDS), "t.csv", ColumnMapping(slice_columns=("country",)))
    assert "'country'" in problem.details[0]


def test_two_label_like_columns_without_names_are_ambiguous() -> None:
    data = to_tsv([{"text": r["text"], "label": f"{r['label']}\t{r['channel']}"} for r in RECORDS])
    problem = rejected(data)
    assert problem.reason.startswith("ambiguous label column")
    assert any("name the label column" in d for d in problem.details)


def test_consistent_as_both_csv_and_tsv_is_ambiguous_unless_the_extension_says() -> None:
    data = b"".join(f"{r['label']},{r['channel']}\t{r['text'].replace(',', '')}\n".encode() for r in RECORDS)
    assert rejected(data).reason.startswith("ambiguous format")
    assert plan(data, "x.tsv").format == "tsv"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"text,label\n", "no data rows"),
        (b"\n\n  \n", "no data: the file holds only blank lines"),
        (b"just some prose without any structure at all\nand another line of it\n", "unrecognised format"),
    ],
)
def test_files_without_usable_data_are_rejected(data: bytes, reason: str) -> None:
    assert rejected(data).reason == reason


def test_a_header_with_duplicate_names_is_rejected() -> None:
    data = b"text,text\nhello there,a\nhi,b\n"
    assert rejected(data, mapping=ColumnMapping(has_header=True)).reason == "duplicate column names in the header"


def test_a_first_row_whose_values_recur_below_is_data_not_a_header() -> None:
    data = b"".join(f"ordinary text {i}\t{'label' if i % 2 else 'y'}\n".encode() for i in range(40))
    found = plan(data)
    assert not found.has_header and found.label_column == "1"
