"""Format and header detection on a decoded sample: csv, tsv, jsonl or fasttext, with or without a header row.

A format is a candidate when at least 90% of the sample's records agree with it (same field count for csv/tsv, JSON
objects for jsonl, `__label__` prefixes for fasttext). The file's extension breaks ties; two candidates and no
extension to choose between them make the file ambiguous, and ambiguous files are rejected, not guessed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass

from services.prep.model import Format, Rejected

CONSISTENT = 0.9
SAMPLE_RECORDS = 2000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_EXTENSIONS: dict[str, Format] = {
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "jsonl",
    "ft": "fasttext",
    "fasttext": "fasttext",
}
_NAME = re.compile(r"^[^\W\d][\w .()/-]{0,63}$")
TEXT_NAMES = (
    "text",
    "texts",
    "sentence",
    "review",
    "reviews",
    "message",
    "body",
    "content",
    "comment",
    "document",
    "utterance",
    "tweet",
    "sms",
    "question",
    "description",
)
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "intent", "topic", "tag")


@dataclass(frozen=True)
class Table:
    """The sample as rows of strings under column names ("0", "1", ... when the file has no header)."""

    columns: tuple[str, ...]
    rows: list[list[str]]

    def values(self, column: str) -> list[str]:
        i = self.columns.index(column)
        return [row[i] for row in self.rows if i < len(row)]


@dataclass(frozen=True)
class Sniffed:
    format: Format
    delimiter: str | None
    records: list[list[str]]  # csv/tsv: every sample record's fields; jsonl/fasttext: unused
    objects: list[dict[str, object]]  # jsonl: parsed sample objects


def extension_format(filename: str) -> Format | None:
    _, dot, ext = filename.rpartition(".")
    return _EXTENSIONS.get(ext.lower()) if dot else None


def sample_text_lines(text: str, complete: bool) -> list[str]:
    """The sample's lines, without a last line cut off by the sample's end."""
    lines = _LINE_BREAK.split(text)
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    return lines[: SAMPLE_RECORDS * 4]


def sniff_format(lines: list[str], extension: Format | None, declared: Format | None) -> list[Sniffed]:
    """The readings the sample supports: one, or csv and tsv both when the sample is consistent as either (the
    caller keeps the one whose columns make sense, or rejects the file as ambiguous)."""
    nonblank = [line for line in lines if line.strip()]
    if not nonblank:
        raise Rejected("no data: the file holds only blank lines")
    parsed = {
        "tsv": _delimited(nonblank, "\t", quoting=False),
        "csv": max((_delimited(nonblank, d, quoting=True) for d in (",", ";")), key=lambda c: c[1]),
    }
    objects = _json_objects(nonblank)
    shares: dict[Format, float] = {
        "jsonl": len(objects) / len(nonblank),
        "fasttext": sum(line.startswith("__label__") for line in nonblank) / len(nonblank),
        "tsv": parsed["tsv"][1],
        "csv": parsed["csv"][1],
    }
    formats = [declared] if declared else _choose(shares, extension)
    out = []
    for fmt in formats:
        if fmt in ("csv", "tsv"):
            records, _share, delimiter = parsed[fmt]
            out.append(Sniffed(fmt, delimiter, records, []))
        else:
            out.append(Sniffed(fmt, None, [], objects))
    return out


def _choose(shares: dict[Format, float], extension: Format | None) -> list[Format]:
    candidates = [fmt for fmt, share in shares.items() if share >= CONSISTENT]
    if extension in candidates:
        return [extension]  # type: ignore[list-item]
    for specific in ("jsonl", "fasttext"):  # structure no natural text has by accident
        if specific in candidates:
            return [specific]  # type: ignore[list-item]
    if not candidates:
        found = ", ".join(f"{fmt} {share:.0%}" for fmt, share in shares.items())
        raise Rejected("unrecognised format", [f"share of sample records consistent with each format: {found}"])
    return candidates


def _delimited(lines: list[str], delimiter: str, *, quoting: bool) -> tuple[list[list[str]], float, str]:
    if quoting:
        reader = csv.reader(io.StringIO("\n".join(lines[:SAMPLE_RECORDS])), delimiter=delimiter)
        records: list[list[str]] = []
        with contextlib.suppress(csv.Error):  # the sample's tail broke the quoting: judge what parsed so far
            for row in reader:
                if row:
                    records.append(row)
    else:
        records = [line.split(delimiter) for line in lines[:SAMPLE_RECORDS]]
    widths = Counter(len(row) for row in records)
    if not widths:
        return records, 0.0, delimiter
    width, count = widths.most_common(1)[0]
    share = count / len(records) if width >= 2 else 0.0
    return records, share, delimiter


def _json_objects(lines: list[str]) -> list[dict[str, object]]:
    objects = []
    for line in lines[:SAMPLE_RECORDS]:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    return objects


def modal_width(records: list[list[str]]) -> int:
    return Counter(len(r) for r in records).most_common(1)[0][0] if records else 0


def looks_like_header(records: list[list[str]], width: int) -> bool:
    """A first record of names (unique, identifier-like) that is not a data row: none of its values recurs in its
    column below, and it holds a known name (text, label, ...) or a label-like column does not contain it."""
    if not records or len(records[0]) != width:
        return False
    first = [field.strip() for field in records[0]]
    if len(set(first)) != len(first) or not all(_NAME.match(field) for field in first):
        return False
    rest = [row for row in records[1:] if len(row) == width]
    if not rest:
        return True  # a lone row of names: a header over no data (rejected later as "no data rows")
    columns = [{row[i].strip() for row in rest} for i in range(width)]
    if any(first[i] in columns[i] for i in range(width)):
        return False  # "spam" over a column of spam/ham is data, whatever it is called
    if any(field.lower() in TEXT_NAMES + LABEL_NAMES for field in first):
        return True
    return any(len(values) <= max(2, len(rest) // 2) for values in columns)


def table_of(sniffed: Sniffed, has_header: bool) -> Table:
    if sniffed.format == "jsonl":
        keys: dict[str, None] = {}
        for obj in sniffed.objects:
            keys.update(dict.fromkeys(obj))
        columns = tuple(keys)
        rows = [[_scalar(obj.get(k)) for k in columns] for obj in sniffed.objects]
        return Table(columns, rows)
    if sniffed.format == "fasttext":
        return Table(("label", "text"), [])
    width = modal_width(sniffed.records)
    records = sniffed.records
    if has_header:
        columns = tuple(field.strip() for field in records[0])
        records = records[1:]
    else:
        columns = tuple(str(i) for i in range(width))
    return Table(columns, [row for row in records if len(row) == len(columns)])


def _scalar(value: object) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)
