"""The regex-based control stripping must keep the exact semantics of the per-character reference."""

from __future__ import annotations

import sys
import unicodedata

from shared.textnorm import NormalisationConfig, _strip_control, normalise


def _reference(text: str) -> str:
    out = []
    for ch in text:
        if ch in "\t\n\r\x0b\x0c":
            out.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf"):
            out.append(ch)
    return "".join(out)


def test_strip_control_matches_the_reference_on_every_code_point() -> None:
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    assert _strip_control(every) == _reference(every)


def test_line_controls_keep_words_apart_and_format_characters_vanish() -> None:
    assert _strip_control("a\tb\r\nc\x07d\u200be\ufeff") == "a b  cde"
    assert normalise("one\x85two\u00a0 three", NormalisationConfig()) == "onetwo three"
