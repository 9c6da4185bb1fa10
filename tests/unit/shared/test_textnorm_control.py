"""The regex-based control stripping must keep the exact semantics of the per-character reference."""

from __future__ import annotations

import random
import re
import sys
import unicodedata

import pytest

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


def _reference_normalise(text: str, config: NormalisationConfig) -> str:
    if config.unicode_form != "none":
        text = unicodedata.normalize(config.unicode_form, text)
    if config.strip_control:
        text = _reference(text)
    if config.collapse_whitespace:
        text = re.sub(r"\s+", " ", text).strip()
    if config.lowercase:
        text = text.lower()
    text = text[: config.max_chars]
    return text.rstrip() if config.collapse_whitespace else text


CONFIGS = [
    NormalisationConfig(),
    NormalisationConfig(strip_control=False),
    NormalisationConfig(collapse_whitespace=False),
    NormalisationConfig(unicode_form="none", lowercase=True, max_chars=9),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_printable_fast_path_matches_the_reference(config: NormalisationConfig) -> None:
    rng = random.Random(5)
    alphabet = [
        "a",
        "Z",
        " ",
        "  ",
        "\t",
        "\n",
        "\u00a0",
        "\u2028",
        "\u200b",
        "\x85",
        "\x07",
        "é",
        "ﬁ",
        "\u3000",
        ".",
        "\ufeff",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
        assert normalise(text, config) == _reference_normalise(text, config), repr(text)
