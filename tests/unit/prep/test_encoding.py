"""Encoding detection on samples: UTF-8 (with or without BOM), Latin-1/cp1252, other scripts, binary refused."""

# ruff: noqa: RUF001  (non-ASCII test text is the point)

from __future__ import annotations

import codecs
import os

import pytest

from services.prep.encoding import detect_encoding, errors_for
from services.prep.model import Rejected

FRENCH = "Le café était très bon, merci à l'équipe!\tpositive\nJe n'ai pas aimé le plat, trop salé.\tnegative\n" * 3


def test_utf8_and_utf8_with_bom() -> None:
    data = FRENCH.encode("utf-8")
    assert detect_encoding(data, [], True) == "utf-8"
    assert detect_encoding(codecs.BOM_UTF8 + data, [], True) == "utf-8-sig"


def test_latin1_text_is_read_as_cp1252_and_decodes_right() -> None:
    for text in (FRENCH, "Die Qualität ist großartig\t1\nNie wieder bestellen\t0\n" * 2):
        data = text.encode("latin-1")
        encoding = detect_encoding(data, [], True)
        assert encoding == "cp1252"
        assert data.decode(encoding) == text


def test_cp1252_punctuation_survives() -> None:
    text = "Price was 50€ – “great” value\t1\nNot good at all\t0\n"
    data = text.encode("cp1252")
    assert data.decode(detect_encoding(data, [], True)) == text


def test_cyrillic_keeps_its_single_byte_encoding() -> None:
    text = "Привет, как дела? Это тестовое сообщение\t1\nПлохое обслуживание\t0\n" * 3
    data = text.encode("cp1251")
    assert data.decode(detect_encoding(data, [], True)) == text


def test_a_latin1_byte_past_the_head_is_found_by_a_probe() -> None:
    head = ("plain ascii line\tx\n" * 100).encode()
    assert detect_encoding(head, [b"caf\xe9 au lait\tx\n"], False) == "cp1252"


def test_a_probe_cut_inside_a_utf8_character_is_still_utf8() -> None:
    probe = "é und ü".encode()[1:]  # starts with a continuation byte
    assert detect_encoding(b"ascii\tx\n", [probe], False) == "utf-8"


def test_utf8_with_a_stray_cp1252_byte_keeps_the_character() -> None:
    data = "naïve ".encode() + b"caf\xe9"
    assert data.decode("utf-8", errors=errors_for("utf-8")) == "naïve café"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (os.urandom(4096), "binary content, not text"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"x" * 100, "binary content, not text"),
    ],
)
def test_empty_and_binary_files_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        detect_encoding(data, [], True)
    assert caught.value.reason == reason


def test_utf16_with_bom_is_allowed_despite_nul_bytes() -> None:
    data = "text\tlabel\nhello there\tx\n".encode("utf-16")
    assert detect_encoding(data, [], True) == "utf-16"
