"""What can be said about a file from its first bytes, before anything is written to S3.

Only cheap, certain refusals live here: an empty file, binary data (archives, images, NUL bytes, control
characters), undecodable text, a JSON-lines file that is not JSON objects, and named columns missing from a header.
Everything that needs the whole file (header only, one class, duplicates...) is prep's job. Latin-1 and other 8-bit
text passes: prep detects the encoding.
"""

from __future__ import annotations

import codecs
import csv
import json

from shared.events import ColumnMapping

SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip archive"),
    (b"PK\x03\x04", "a zip archive (or xlsx/docx)"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PAR1", "a Parquet file"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (xls/doc)"),
)
# UTF-32 before UTF-16: the UTF-32-LE mark starts with the UTF-16-LE one.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
MAX_CONTROL_SHARE = 0.01
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")


class ContentError(ValueError):
    """The file cannot be a usable text data set; the message says why (it becomes the 422 detail)."""


def check_head(head: bytes, *, complete: bool, mapping: ColumnMapping) -> str:
    """Refuse what is certainly unusable; return the encoding the head decodes with.

    `complete` says whether `head` is the whole file (then a truncated trailing character is an error).
    """
    if not head:
        raise ContentError("the file is empty")
    for signature, what in SIGNATURES:
        if head.startswith(signature):
            raise ContentError(f"the file looks like {what}, not text; upload the uncompressed text file")
    encoding, text = _decode(head, complete)
    if not text.strip():
        raise ContentError("the file holds only whitespace")
    _check_controls(text)
    _check_structure(text, complete, mapping)
    return encoding


def _decode(head: bytes, complete: bool) -> tuple[str, str]:
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding, _decode_as(head[len(bom) :], encoding, complete)
    if b"\x00" in head:
        raise ContentError("the file contains NUL bytes: binary data, or UTF-16/32 text without a byte-order mark")
    try:
        return "utf-8", _decode_as(head, "utf-8", complete)
    except ContentError:
        # Not UTF-8: an 8-bit encoding (Latin-1, cp1252...) always decodes; prep detects which one it is.
        return "8-bit", head.decode("latin-1")


def _decode_as(data: bytes, encoding: str, complete: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        return decoder.decode(data, final=complete)
    except UnicodeDecodeError as exc:
        raise ContentError(f"the file is not valid {encoding} text (byte {exc.start})") from exc


def _check_controls(text: str) -> None:
    controls = sum(1 for ch in text if (ch < " " and ch not in _ALLOWED_CONTROLS) or ch == "\x7f")
    if controls > MAX_CONTROL_SHARE * len(text):
        share = 100 * controls / len(text)
        raise ContentError(f"the file looks binary: {share:.1f}% of its first characters are control characters")


def _first_line(text: str, complete: bool) -> str | None:
    """The first non-blank line, if the head holds all of it."""
    text = text.lstrip("\ufeff")
    for line in text.splitlines(keepends=True):
        if line.strip():
            ended = line.endswith(("\n", "\r"))
            return line.rstrip("\r\n") if ended or complete else None
    return None


def _check_structure(text: str, complete: bool, mapping: ColumnMapping) -> None:
    if mapping.format == "jsonl":
        _check_jsonl(text, complete, mapping)
    elif mapping.format in ("csv", "tsv"):
        _check_delimited(text, complete, mapping)


def _check_jsonl(text: str, complete: bool, mapping: ColumnMapping) -> None:
    if not text.lstrip("\ufeff \t\r\n").startswith("{"):
        raise ContentError("format is jsonl but the file does not start with a JSON object")
    line = _first_line(text, complete)
    if line is None:
        return
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise ContentError(f"format is jsonl but the first line is not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise ContentError("format is jsonl but the first line is not a JSON object")
    wanted = [c for c in (mapping.text_column, mapping.label_column) if c]
    if missing := [c for c in wanted if c not in record]:
        raise ContentError(f"the first record has no field {missing}; it has {sorted(record)[:20]}")


def _check_delimited(text: str, complete: bool, mapping: ColumnMapping) -> None:
    line = _first_line(text, complete)
    if line is None or line.count('"') % 2:  # unknown or a quoted newline in the first row: leave it to prep
        return
    delimiter = "\t" if mapping.format == "tsv" else ","
    fields = [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]
    columns = [c for c in (mapping.text_column, mapping.label_column, *mapping.slice_columns) if c]
    if mapping.has_header is False:
        if too_far := [c for c in columns if c.isdigit() and int(c) >= len(fields)]:
            raise ContentError(f"column index {too_far} is past the {len(fields)} columns of the first row")
        return
    names = [c for c in columns if mapping.has_header or not c.isdigit()]
    known = {f.lower() for f in fields}
    if missing := [c for c in names if c.lower() not in known]:
        raise ContentError(f"column {missing} is not in the header {fields[:30]}")
