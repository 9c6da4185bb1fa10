"""Reading records with bounded memory: line terminators, quoted newlines, over-long lines, broken quoting."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

from services.prep.model import BLANK_LINE, LINE_TOO_LONG, MALFORMED, MISSING_LABEL, MULTIPLE_LABELS, ReadPlan
from services.prep.records import read_records

TSV = ReadPlan(encoding="utf-8", format="tsv", delimiter="\t", columns=("0", "1"), text_column="0", label_column="1")
CSV = ReadPlan(
    encoding="utf-8",
    format="csv",
    delimiter=",",
    has_header=True,
    columns=("text", "label"),
    text_column="text",
    label_column="label",
)


def records(data: bytes, plan: ReadPlan, cap: int = 1000) -> list[object]:
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None)
    return list(read_records(stream, plan, cap))


def test_cr_crlf_and_mixed_line_terminators() -> None:
    data = b"one\ta\rtwo\tb\r\nthree\tc\nfour\td"
    assert records(data, TSV) == [("one", "a", ()), ("two", "b", ()), ("three", "c", ()), ("four", "d", ())]


def test_nel_and_line_separator_inside_a_text_do_not_split_it() -> None:
    data = "is\x85was\ta\nx\u2028y\tb\n".encode()
    assert records(data, TSV) == [("is\x85was", "a", ()), ("x\u2028y", "b", ())]


def test_tsv_treats_quotes_as_text() -> None:
    data = b'"masterpieces.  \t1\n" The structure\t1\n'
    assert records(data, TSV) == [('"masterpieces.  ', "1", ()), ('" The structure', "1", ())]


def test_csv_with_quoted_newlines_and_crlf() -> None:
    data = b'text,label\r\n"first line\r\nsecond, line",spam\r\nplain,ham\r\n'
    assert records(data, CSV) == [("first line\nsecond, line", "spam", ()), ("plain", "ham", ())]


def test_wrong_field_counts_and_blank_lines_are_counted() -> None:
    data = b"text,label\nonly one field\n\nthree,fields,here\nok,a\n"
    assert records(data, CSV) == [MALFORMED, BLANK_LINE, MALFORMED, ("ok", "a", ())]


def test_an_over_long_line_is_skipped_and_reading_goes_on() -> None:
    data = b"short\ta\n" + b"x" * 5000 + b"\tb\nafter\tc\n"
    assert records(data, TSV, cap=100) == [("short", "a", ()), LINE_TOO_LONG, ("after", "c", ())]


def test_a_runaway_quote_fails_at_the_cap_and_reading_goes_on() -> None:
    data = b'text,label\n"never closed,a\n' + b"filler line\n" * 200 + b"ok,b\n"
    out = records(data, CSV, cap=500)
    assert MALFORMED in out and out[-1] == ("ok", "b", ())


def test_a_50_mb_single_line_costs_no_more_than_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "huge.tsv"
    with path.open("wb") as f:
        f.write(b"before\ta\n")
        for _ in range(50):
            f.write(b"y" * (1024 * 1024))
        f.write(b"\tb\nafter\tc\n")
    tracemalloc.start()
    with path.open("rb") as raw:
        stream = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding="utf-8", newline=None)
        out = list(read_records(stream, TSV, 1_000_000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out == [("before", "a", ()), LINE_TOO_LONG, ("after", "c", ())]
    assert peak < 12 * 1024 * 1024  # the cap (1M chars, up to 4 bytes each) plus buffers, not 50 MB


def test_jsonl_records() -> None:
    plan = ReadPlan(
        encoding="utf-8",
        format="jsonl",
        columns=("t", "l", "s"),
        text_column="t",
        label_column="l",
        slice_columns=("s",),
    )
    data = b'{"t": "hi", "l": 1, "s": "eu"}\n{"t": "x", "l": ["a", "b"]}\n{"t": "y"}\nnot json\n[1]\n'
    assert records(data, plan) == [("hi", "1", ("eu",)), MULTIPLE_LABELS, MISSING_LABEL, MALFORMED, MALFORMED]


def test_fasttext_records() -> None:
    plan = ReadPlan(
        encoding="utf-8", format="fasttext", columns=("label", "text"), text_column="text", label_column="label"
    )
    data = b"__label__spam win now\n__label__a __label__b two labels\nno label here\n"
    assert records(data, plan) == [("win now", "spam", ()), MULTIPLE_LABELS, MISSING_LABEL]
