"""The streaming multipart reader: fields and file chunks in body order, however the body is cut."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.ingest.formparts import (
    FileChunk,
    FileEnd,
    FileStart,
    FormError,
    FormEvent,
    FormField,
    boundary_of,
    form_events,
)


def _encoded(data: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    return request.read(), request.headers["content-type"]


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def _events(body: bytes, content_type: str, size: int, **kwargs: int) -> list[FormEvent]:
    return [e async for e in form_events(_chunks(body, size), boundary_of(content_type), **kwargs)]


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
async def test_fields_then_file_whatever_the_chunking(size: int) -> None:
    payload = b"text,label\n" + b"hello world,a\n" * 500
    body, ctype = _encoded({"format": "csv", "slice_columns": "a,b"}, {"file": ("t é.csv", payload, "text/csv")})
    events = await _events(body, ctype, size)
    fields = [e for e in events if isinstance(e, FormField)]
    assert fields == [FormField("format", "csv"), FormField("slice_columns", "a,b")]
    (start,) = [e for e in events if isinstance(e, FileStart)]
    assert (start.name, start.filename, start.content_type) == ("file", "t é.csv", "text/csv")
    assert b"".join(e.data for e in events if isinstance(e, FileChunk)) == payload
    assert isinstance(events[-1], FileEnd)


async def test_not_multipart() -> None:
    with pytest.raises(FormError, match="multipart/form-data"):
        boundary_of("application/json")


async def test_truncated_body() -> None:
    body, ctype = _encoded({}, {"file": ("a.csv", b"x" * 1000, "text/csv")})
    with pytest.raises(FormError, match="ended before its closing boundary"):
        await _events(body[:600], ctype, 100)


async def test_oversized_field() -> None:
    body, ctype = _encoded({"text_column": "x" * 5000}, {"file": ("a.csv", b"x", "text/csv")})
    with pytest.raises(FormError, match="longer than 1024 bytes"):
        await _events(body, ctype, 512, max_field_bytes=1024)


async def test_too_many_parts() -> None:
    body, ctype = _encoded({f"f{i}": "v" for i in range(10)}, {"file": ("a.csv", b"x", "text/csv")})
    with pytest.raises(FormError, match="more than 5 parts"):
        await _events(body, ctype, 512, max_parts=5)
