"""Reading records from a decoded text stream with bounded memory: every line is read with a cap, so a 50 MB line
costs at most the cap (it is skipped and counted, never held), and CSV records may span lines (quoted newlines).

Each record comes out as `(text, label, slice values)` or as the reason it was dropped (a string).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import TextIO

from services.prep.model import (
    BLANK_LINE,
    LINE_TOO_LONG,
    MALFORMED,
    MISSING_LABEL,
    MULTIPLE_LABELS,
    ReadPlan,
)

Record = tuple[str, str, tuple[str, ...]]
LABEL_PREFIX = "__label__"


class CappedLines:
    """The stream's lines (newline-terminated, universal newlines already applied by the stream), skipping lines
    longer than `cap` characters without keeping them; `skipped` counts those not yet reported."""

    def __init__(self, stream: TextIO, cap: int) -> None:
        self.stream = stream
        self.cap = cap
        self.skipped = 0

    def __iter__(self) -> Iterator[str]:
        readline, cap = self.stream.readline, self.cap
        while line := readline(cap):
            if len(line) == cap and not line.endswith("\n"):
                while (rest := readline(cap)) and not rest.endswith("\n"):
                    pass  # drain the over-long line piece by piece
                self.skipped += 1
                continue
            yield line


def read_records(stream: TextIO, plan: ReadPlan, cap: int) -> Iterator[Record | str]:
    """Every data record of the stream (the header row, if any, is not a record)."""
    lines = CappedLines(stream, cap)
    if plan.format == "csv":
        records = _csv(lines, plan, cap)
    elif plan.format == "tsv":
        records = _tsv(lines, plan)
    elif plan.format == "jsonl":
        records = _jsonl(lines, plan)
    else:
        records = _fasttext(lines)
    for record in records:
        while lines.skipped:  # report over-long lines where they occurred
            lines.skipped -= 1
            yield LINE_TOO_LONG
        yield record
    for _ in range(lines.skipped):
        yield LINE_TOO_LONG


def _picker(plan: ReadPlan) -> tuple[int, int, tuple[int, ...], int]:
    return (
        plan.index(plan.text_column),
        plan.index(plan.label_column),
        tuple(plan.index(c) for c in plan.slice_columns),
        len(plan.columns),
    )


def _fields(fields: list[str], picker: tuple[int, int, tuple[int, ...], int]) -> Record | str:
    text_at, label_at, slices_at, width = picker
    if len(fields) != width:
        return MALFORMED if any(f.strip() for f in fields) else BLANK_LINE
    return fields[text_at], fields[label_at], tuple(fields[i] for i in slices_at)


def _csv(lines: CappedLines, plan: ReadPlan, cap: int) -> Iterator[Record | str]:
    csv.field_size_limit(cap)  # a runaway quoted field fails at the cap instead of swallowing the file
    reader = csv.reader(iter(lines), delimiter=plan.delimiter or ",", strict=False)
    picker = _picker(plan)
    header_pending = plan.has_header
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield MALFORMED  # the reader resets and goes on with the next line
            continue
        if header_pending:
            header_pending = False
            continue
        yield _fields(fields, picker) if fields else BLANK_LINE


def _tsv(lines: CappedLines, plan: ReadPlan) -> Iterator[Record | str]:
    # No quoting in TSV: quotes are ordinary characters (real files open a quote in one line and never close it).
    picker = _picker(plan)
    header_pending = plan.has_header
    for line in lines:
        if header_pending:
            header_pending = False
            continue
        line = line.rstrip("\n")
        yield _fields(line.split("\t"), picker) if line.strip() else BLANK_LINE


def _jsonl(lines: CappedLines, plan: ReadPlan) -> Iterator[Record | str]:
    for line in lines:
        if not line.strip():
            yield BLANK_LINE
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield MALFORMED
            continue
        yield _json_record(obj, plan) if isinstance(obj, dict) else MALFORMED


def _json_record(obj: dict[str, object], plan: ReadPlan) -> Record | str:
    text, label = obj.get(plan.text_column), obj.get(plan.label_column)
    if isinstance(label, list):
        if len(label) > 1:
            return MULTIPLE_LABELS
        label = label[0] if label else None
    if label is None or isinstance(label, dict | list):
        return MISSING_LABEL
    if text is None:
        text = ""
    if not isinstance(text, str):
        return MALFORMED
    slices = tuple(_scalar(obj.get(c)) for c in plan.slice_columns)
    return text, str(label), slices


def _scalar(value: object) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _fasttext(lines: CappedLines) -> Iterator[Record | str]:
    for line in lines:
        rest = line.rstrip("\n").lstrip()
        if not rest:
            yield BLANK_LINE
            continue
        labels = []
        while rest.startswith(LABEL_PREFIX):
            token, _, rest = rest.partition(" ")
            labels.append(token[len(LABEL_PREFIX) :])
            rest = rest.lstrip()
        if not labels:
            yield MISSING_LABEL
        elif len(labels) > 1:
            yield MULTIPLE_LABELS
        else:
            yield rest, labels[0], ()
