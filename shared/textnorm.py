"""Text normalisation shared by training (prep) and serving (inference).

Prep records the configuration it used in the data set's transformer file; inference loads that file for the model
it serves and applies the very same function, so a text is never seen differently in training and in production.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict

_WHITESPACE = re.compile(r"\s+")


class NormalisationConfig(BaseModel):
    """What cleaning does to a text. Recorded in `transformer.json`; changing a default changes data versions."""

    model_config = ConfigDict(frozen=True)

    unicode_form: Literal["NFC", "NFKC", "none"] = "NFKC"
    strip_control: bool = True
    collapse_whitespace: bool = True
    lowercase: bool = False
    max_chars: int = 5000


_LINE_CONTROLS = re.compile("[\t\n\r\x0b\x0c]")


@functools.cache
def _control_chars() -> re.Pattern[str]:
    """Every Cc/Cf code point of this Python's Unicode database, as one character class (built once, ~0.1 s)."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in ("Cc", "Cf"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]")


def _strip_control(text: str) -> str:
    # Control and format characters (Cc, Cf: zero-width spaces, BOMs, bidi marks) carry no meaning for a classifier;
    # tabs and newlines become spaces first so words they separate stay apart. Regexes instead of a per-character
    # loop: prep normalises every row of files of gigabytes, and this was most of its time.
    return _control_chars().sub("", _LINE_CONTROLS.sub(" ", text))


def normalise(text: str, config: NormalisationConfig) -> str:
    """Apply the recorded cleaning to one text (idempotent: normalise(normalise(t)) == normalise(t))."""
    if config.unicode_form != "none":
        text = unicodedata.normalize(config.unicode_form, text)
    # Fast path: a printable text has no control or format characters and no whitespace but " " (isprintable is
    # False for Cc, Cf, Zs except the space, Zl, Zp), so both regexes below would leave it as it is.
    printable = text.isprintable()
    if config.strip_control and not printable:
        text = _strip_control(text)
    if config.collapse_whitespace:
        text = text.strip() if printable and "  " not in text else _WHITESPACE.sub(" ", text).strip()
    if config.lowercase:
        text = text.lower()
    text = text[: config.max_chars]
    return text.rstrip() if config.collapse_whitespace else text
