"""Which raw objects are data files, and where a rejected one is quarantined."""

from __future__ import annotations

from shared.datasets import SCHEMA_FILE

DATA_EXTENSIONS = ("csv", "tsv", "tab", "txt", "jsonl", "ndjson", "json", "ft", "fasttext")
_DOCUMENTS = ("md", "pdf", "png", "jpg", "jpeg", "gif", "svg", "html", "htm")
_DOCUMENT_NAMES = ("readme", "license", "licence", "changelog")


def basename(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def extension(key: str) -> str:
    name = basename(key)
    return name.rsplit(".", 1)[-1].lower() if "." in name.lstrip(".") else ""


def skip_reason(key: str) -> str | None:
    """Why an object under raw/ is not prepared at all (None: it is a data file, or should be rejected as one)."""
    name = basename(key)
    if not key.startswith("raw/"):
        return "not under raw/"
    if key.endswith("/") or not name:
        return "a folder marker"
    if name == SCHEMA_FILE:
        return "the data set's schema file, read when its data files are prepared"
    if name.startswith("."):
        return "a hidden file"
    stem = name.split(".", 1)[0].lower()
    if extension(key) in _DOCUMENTS or stem in _DOCUMENT_NAMES:
        return "documentation, not data"
    return None


def unsupported_reason(key: str) -> str | None:
    """A file type prep cannot read (an archive, a spreadsheet): rejected with this reason, so the user hears."""
    ext = extension(key)
    if ext and ext not in DATA_EXTENSIONS:
        return f"unsupported file type .{ext} (supported: {', '.join(DATA_EXTENSIONS)}, or no extension)"
    return None


def quarantine_key(key: str, dataset: str) -> str:
    """`raw/{dataset}/a/b.csv` -> `quarantine/{dataset}/a/b.csv`; a file directly under raw/ goes under its data set."""
    rest = key.removeprefix("raw/")
    if "/" not in rest:
        rest = f"{dataset}/{rest}"
    return f"quarantine/{rest}"
