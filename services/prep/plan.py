"""From a sample and an optional (possibly partial) column mapping to a complete `ReadPlan`, or a rejection.

What the mapping names is used as given (and checked against the file); what it leaves out is detected. Roles are
found by column name first (text, label, ...), then by content: the label column has few distinct short values, the
text column long, varied strings. More than one candidate for a role is ambiguous and rejected with the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.prep.encoding import errors_for
from services.prep.model import ReadPlan, Rejected
from services.prep.sniff import (
    LABEL_NAMES,
    TEXT_NAMES,
    Sniffed,
    Table,
    extension_format,
    looks_like_header,
    modal_width,
    sample_text_lines,
    sniff_format,
    table_of,
)
from shared.events import ColumnMapping


@dataclass(frozen=True)
class Profile:
    rows: int
    distinct: int
    mean_chars: float
    spaced: float  # share of values with a space inside

    @classmethod
    def of(cls, values: list[str]) -> Profile:
        values = [v.strip() for v in values if v.strip()]
        if not values:
            return cls(0, 0, 0.0, 0.0)
        mean = sum(map(len, values)) / len(values)
        return cls(len(values), len(set(values)), mean, sum(" " in v for v in values) / len(values))

    @property
    def label_like(self) -> bool:
        return self.rows > 0 and self.distinct <= min(100, self.rows / 2) and self.mean_chars <= 50

    @property
    def text_like(self) -> bool:
        return self.rows > 0 and self.distinct >= self.rows / 2 and (self.spaced >= 0.5 or self.mean_chars >= 20)

    def describe(self, column: str) -> str:
        return f"column {column!r}: {self.distinct} distinct of {self.rows}, mean {self.mean_chars:.0f} chars"


def build_plan(
    sample: bytes, encoding: str, complete: bool, filename: str, mapping: ColumnMapping | None, origin: str
) -> ReadPlan:
    """The plan to read a file whose first bytes are `sample`, honouring `mapping` where it says something."""
    mapping = mapping or ColumnMapping()
    text = sample.decode(encoding, errors=errors_for(encoding))
    lines = sample_text_lines(text.removeprefix("\ufeff"), complete)
    readings = sniff_format(lines, extension_format(filename), mapping.format)
    plans, problems = [], []
    for sniffed in readings:
        try:
            plans.append(_plan_for(sniffed, encoding, mapping, origin))
        except Rejected as problem:
            problems.append(problem)
    if len(plans) == 1:
        return plans[0]
    if not plans:
        raise problems[0]
    raise Rejected(
        "ambiguous format: the sample reads as csv and as tsv, with a text and a label column either way",
        [
            *(f"as {p.format}: text {p.text_column!r}, label {p.label_column!r}" for p in plans),
            "upload with an explicit format (metadata mlops-format or raw/<dataset>/_schema.json)",
        ],
    )


def _plan_for(sniffed: Sniffed, encoding: str, mapping: ColumnMapping, origin: str) -> ReadPlan:
    has_header = False
    if sniffed.format in ("csv", "tsv"):
        width = modal_width(sniffed.records)
        has_header = looks_like_header(sniffed.records, width) if mapping.has_header is None else mapping.has_header
    table = table_of(sniffed, has_header)
    _check_columns(table)
    slices = tuple(_resolve(ref, table.columns, "slice") for ref in mapping.slice_columns)
    if sniffed.format == "fasttext":
        text_column, label_column = "text", "label"
    else:
        text_column, label_column = _roles(table, mapping, set(slices))
    if {text_column, label_column} & set(slices):
        raise Rejected("a slice column is also the text or label column", [f"slices: {list(slices)}"])
    given = [mapping.format, mapping.has_header, mapping.text_column, mapping.label_column]
    known = sum(v is not None for v in given)
    how = origin if known == len(given) else "detected" if known == 0 else f"{origin}+detected"
    return ReadPlan(
        encoding=encoding,
        format=sniffed.format,
        delimiter=sniffed.delimiter,
        has_header=has_header,
        columns=table.columns,
        text_column=text_column,
        label_column=label_column,
        slice_columns=slices,
        origin=how,
    )


def _check_columns(table: Table) -> None:
    if len(set(table.columns)) != len(table.columns):
        raise Rejected("duplicate column names in the header", [f"columns: {list(table.columns)}"])
    if not table.rows and table.columns != ("label", "text"):
        raise Rejected("no data rows", ["the sample holds a header (or nothing readable) and no data row"])


def _resolve(ref: str, columns: tuple[str, ...], role: str) -> str:
    if ref in columns:
        return ref
    if ref.isdigit() and int(ref) < len(columns):
        return columns[int(ref)]
    raise Rejected(
        "the mapping names a column the file does not have",
        [f"{role} column {ref!r} is not among the columns {list(columns)}"],
    )


def _roles(table: Table, mapping: ColumnMapping, slices: set[str]) -> tuple[str, str]:
    text = _resolve(mapping.text_column, table.columns, "text") if mapping.text_column else None
    label = _resolve(mapping.label_column, table.columns, "label") if mapping.label_column else None
    label = label or _by_name(table, LABEL_NAMES, exclude={text, *slices})
    text = text or _by_name(table, TEXT_NAMES, exclude={label, *slices})
    profiles = {c: Profile.of(table.values(c)) for c in table.columns if c not in slices}
    label = label or _by_content(profiles, "label", exclude=text)
    text = text or _by_content(profiles, "text", exclude=label)
    if text == label:
        raise Rejected("text and label are the same column", [f"column {text!r}"])
    return text, label


def _by_name(table: Table, names: tuple[str, ...], exclude: set[str | None]) -> str | None:
    lowered = {c.lower(): c for c in table.columns if c not in exclude}
    return next((lowered[n] for n in names if n in lowered), None)


def _by_content(profiles: dict[str, Profile], role: str, exclude: str | None) -> str:
    candidates = [c for c, p in profiles.items() if c != exclude and (p.label_like if role == "label" else p.text_like)]
    evidence = [p.describe(c) for c, p in profiles.items()]
    if role == "label" and len(candidates) > 1:  # a constant column says nothing; a varying one might be labels
        candidates = [c for c in candidates if profiles[c].distinct > 1] or candidates
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise Rejected(f"no column looks like the {role}", evidence)
    raise Rejected(
        f"ambiguous {role} column: {', '.join(repr(c) for c in candidates)} all look like one",
        [*evidence, f"name the {role} column in the mapping (metadata mlops-{role}-column or _schema.json)"],
    )
