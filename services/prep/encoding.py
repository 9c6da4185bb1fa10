"""Which text encoding a raw file uses, decided on samples of its bytes (head, middle, tail), never the whole file.

UTF-8 is tried first and strictly; then UTF-16/32 by their byte-order marks; anything else goes to charset-normalizer.
Its guesses on short samples of Western text are unreliable (cp1250, cp437, mac_latin2 for plain Latin-1 French or
German), so a guess whose alphabet is Latin becomes cp1252, the superset of Latin-1 that Windows tools write; only a
non-Latin script (Cyrillic, CJK, ...) keeps charset-normalizer's answer.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from services.prep.model import Rejected

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 control bytes that never occur in text files (tab, newlines, form feed and vertical tab do).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13)) + b"\x7f"
_LATIN_ALPHABETS = ("Basic Latin", "Control character", "Latin", "General Punctuation", "Currency Symbols")
UTF8_FALLBACK = "prep-cp1252-fallback"


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    # A UTF-8 file with a few stray cp1252 bytes (a pasted line from an old tool) keeps those characters.
    assert isinstance(error, UnicodeDecodeError)
    chunk = error.object[error.start : error.end]
    return bytes(chunk).decode("cp1252", errors="replace"), error.end


codecs.register_error(UTF8_FALLBACK, _cp1252_fallback)


def errors_for(encoding: str) -> str:
    """The decode error policy of an encoding: UTF-8 falls back to cp1252 per bad byte, others replace."""
    return UTF8_FALLBACK if encoding in ("utf-8", "utf-8-sig") else "replace"


def detect_encoding(head: bytes, probes: list[bytes], complete: bool) -> str:
    """The encoding of a file whose first bytes are `head` (`complete` when that is the whole file)."""
    if not head:
        raise Rejected("empty file", ["the object has no bytes"])
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    chunks = [head, *probes]
    _refuse_binary(chunks)
    if all(_is_utf8(chunk, first=i == 0, final=complete and i == 0) for i, chunk in enumerate(chunks)):
        return "utf-8"
    return _legacy_encoding(b"".join(chunks))


def _refuse_binary(chunks: list[bytes]) -> None:
    for chunk in chunks:
        if b"\x00" in chunk:
            raise Rejected("binary content, not text", ["NUL bytes found (and no UTF-16/32 byte-order mark)"])
        controls = sum(chunk.count(b) for b in _BINARY_BYTES)
        if controls > max(2, len(chunk) // 100):
            raise Rejected("binary content, not text", [f"{controls} control bytes in a {len(chunk)}-byte sample"])


def _is_utf8(chunk: bytes, *, first: bool, final: bool) -> bool:
    if not first:  # a probe from the middle may start inside a multi-byte sequence
        skip = 0
        while skip < 3 and skip < len(chunk) and 0x80 <= chunk[skip] <= 0xBF:
            skip += 1
        chunk = chunk[skip:]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(chunk, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _legacy_encoding(sample: bytes) -> str:
    best = from_bytes(sample).best()
    if best is None:
        raise Rejected("undecodable content", ["not UTF-8, and no known encoding reads the sample as text"])
    if any(not alphabet.startswith(_LATIN_ALPHABETS) for alphabet in best.alphabets):
        return str(best.encoding)
    try:
        sample.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"  # bytes cp1252 leaves undefined (0x81, 0x8D, ...): Latin-1 reads every byte
    return "cp1252"
