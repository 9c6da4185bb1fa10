"""Edge checks on the first bytes of a file: certain refusals only, never a guess about good data."""

from __future__ import annotations

import codecs
import gzip

import pytest

from services.ingest.sniff import ContentError, check_head
from shared.events import ColumnMapping

NONE = ColumnMapping()


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"", "empty"),
        (b"  \n\r\n\t ", "only whitespace"),
        (gzip.compress(b"text,label\n", mtime=0), "gzip archive"),
        (b"PK\x03\x04rest-of-zip", "zip archive"),
        (b"%PDF-1.7\n", "PDF"),
        (bytes(range(256)) * 4, "NUL bytes"),
        (b"text\x01\x02\x03\x04\x05,label\x06\x07\n" * 20, "control characters"),
        (codecs.BOM_UTF8 + b"caf\xe9", "not valid utf-8"),
    ],
)
def test_unusable_heads_are_refused(head: bytes, reason: str) -> None:
    with pytest.raises(ContentError, match=reason):
        check_head(head, complete=True, mapping=NONE)


def test_latin1_text_passes_for_prep_to_detect() -> None:
    assert check_head("café,crème\n".encode("latin-1"), complete=True, mapping=NONE) == "8-bit"


def test_utf16_with_bom_passes() -> None:
    data = "text,label\nhello,a\n".encode("utf-16")
    assert check_head(data, complete=True, mapping=NONE).startswith("utf-16")


def test_a_character_cut_by_the_sniff_window_is_not_an_error() -> None:
    head = "text,label\nna\u00efve".encode()[:14]  # ends inside the two bytes of "ï"
    assert check_head(head, complete=False, mapping=NONE) == "utf-8"
    # As a whole file it is not UTF-8: an 8-bit encoding, which prep will detect.
    assert check_head(head, complete=True, mapping=NONE) == "8-bit"


def test_named_columns_must_be_in_the_header() -> None:
    mapping = ColumnMapping(format="csv", text_column="body", label_column="label")
    with pytest.raises(ContentError, match=r"\['body'\] is not in the header \['text', 'label'\]"):
        check_head(b"text,label\nhello,a\n", complete=True, mapping=mapping)
    ok = ColumnMapping(format="csv", text_column="Text", label_column="label")
    check_head(b"text,label\nhello,a\n", complete=True, mapping=ok)


def test_column_index_past_the_first_row() -> None:
    mapping = ColumnMapping(format="tsv", has_header=False, text_column="1", label_column="2")
    with pytest.raises(ContentError, match="past the 2 columns"):
        check_head(b"ham\thello there\n", complete=True, mapping=mapping)


def test_header_check_waits_for_a_complete_line() -> None:
    mapping = ColumnMapping(format="csv", text_column="body")
    check_head(b"text,la", complete=False, mapping=mapping)  # the header is not complete yet: no verdict


def test_jsonl_must_hold_objects_with_the_named_fields() -> None:
    mapping = ColumnMapping(format="jsonl", text_column="text", label_column="label")
    with pytest.raises(ContentError, match="does not start with a JSON object"):
        check_head(b"text,label\n", complete=True, mapping=mapping)
    with pytest.raises(ContentError, match=r"no field \['label'\]"):
        check_head(b'{"text": "hi", "intent": "a"}\n', complete=True, mapping=mapping)
    check_head(b'{"text": "hi", "label": "a"}\n{"text"', complete=False, mapping=mapping)
