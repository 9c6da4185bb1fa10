"""A streaming multipart/form-data reader: the request body becomes a sequence of small events, never a whole file.

Starlette's `request.form()` spools a file part to a temporary file before the endpoint runs; here the body is fed
chunk by chunk to python-multipart's push parser and the endpoint sees fields and file chunks as they arrive, so the
file can go to S3 while it is still being received. Plain fields are small and capped; the one file part is not
buffered at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header


@dataclass(frozen=True)
class FormField:
    name: str
    value: str


@dataclass(frozen=True)
class FileStart:
    name: str
    filename: str
    content_type: str


@dataclass(frozen=True)
class FileChunk:
    data: bytes


@dataclass(frozen=True)
class FileEnd:
    name: str


FormEvent = FormField | FileStart | FileChunk | FileEnd


class FormError(ValueError):
    """The body is not a usable multipart form; the message says why (it becomes the 400 detail)."""


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a `multipart/form-data` content type."""
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise FormError("send the file as multipart/form-data (a form with a `file` field)")
    boundary = options.get(b"boundary")
    if not boundary:
        raise FormError("multipart/form-data without a boundary")
    return boundary


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


@dataclass
class _Collector:
    """The parser's callbacks: they run synchronously inside `parser.write` and queue events for the reader."""

    max_field_bytes: int
    max_parts: int
    events: list[FormEvent] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    part_name: str = ""
    is_file: bool = False
    value: bytearray = field(default_factory=bytearray)
    parts: int = 0
    ended: bool = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": lambda d, s, e: self.header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise FormError(f"the form has more than {self.max_parts} parts")
        self.headers, self.value, self.is_file = {}, bytearray(), False

    def on_header_end(self) -> None:
        self.headers[_text(bytes(self.header_name)).strip().lower()] = _text(bytes(self.header_value)).strip()
        self.header_name, self.header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        kind, options = parse_options_header(self.headers.get("content-disposition", ""))
        if kind != b"form-data" or b"name" not in options:
            raise FormError("a form part has no `Content-Disposition: form-data; name=...` header")
        self.part_name = _text(options[b"name"])
        self.is_file = b"filename" in options
        if self.is_file:
            content_type = self.headers.get("content-type", "application/octet-stream")
            self.events.append(FileStart(self.part_name, _text(options[b"filename"]), content_type))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.is_file:
            self.events.append(FileChunk(bytes(data[start:end])))
            return
        self.value.extend(data[start:end])
        if len(self.value) > self.max_field_bytes:
            raise FormError(f"form field {self.part_name!r} is longer than {self.max_field_bytes} bytes")

    def on_part_end(self) -> None:
        if self.is_file:
            self.events.append(FileEnd(self.part_name))
        else:
            self.events.append(FormField(self.part_name, _text(bytes(self.value))))

    def on_end(self) -> None:
        self.ended = True


async def form_events(
    body: AsyncIterator[bytes], boundary: bytes, *, max_field_bytes: int = 16384, max_parts: int = 32
) -> AsyncIterator[FormEvent]:
    """Fields, file starts, file chunks and file ends, in body order, as the body arrives."""
    collector = _Collector(max_field_bytes, max_parts)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    async for chunk in body:
        if not chunk:
            continue
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise FormError(f"malformed multipart body: {exc}") from exc
        events, collector.events = collector.events, []
        for event in events:
            yield event
    if not collector.ended:
        raise FormError("the multipart body ended before its closing boundary")
