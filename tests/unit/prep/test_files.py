from __future__ import annotations

import pytest

from services.prep.files import quarantine_key, skip_reason, unsupported_reason


@pytest.mark.parametrize(
    ("key", "skipped"),
    [
        ("raw/sms/_schema.json", True),
        ("raw/sms/", True),
        ("raw/sms/.DS_Store", True),
        ("raw/sms/readme.txt", True),
        ("raw/sms/notes.md", True),
        ("processed/sms/v/manifest.json", True),
        ("raw/sms/spam collection ü.tsv", False),
        ("raw/sms/archive.zip", False),  # not skipped silently: rejected with a reason the user sees
        ("raw/sms/data", False),
    ],
)
def test_what_is_skipped(key: str, skipped: bool) -> None:
    assert (skip_reason(key) is not None) is skipped


def test_unsupported_types_and_quarantine_keys() -> None:
    assert unsupported_reason("raw/sms/a.zip") is not None and unsupported_reason("raw/sms/a.csv") is None
    assert quarantine_key("raw/sms/u1/a b.csv", "sms") == "quarantine/sms/u1/a b.csv"
    assert quarantine_key("raw/sms.csv", "sms") == "quarantine/sms/sms.csv"
