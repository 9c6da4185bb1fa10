"""`POST /v1/datasets/{dataset}/files`: a multipart upload streamed into raw/ as it arrives."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from services.ingest.api.deps import Dataset, Deps, http_errors
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
from services.ingest.ingesting import Incoming, Receipt, ingest, safe_filename
from services.ingest.mapping import FORMATS, build_mapping

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/datasets", tags=["uploads"])
MAPPING_FIELDS = ("format", "has_header", "text_column", "label_column", "slice_columns")
FORM_OVERHEAD = 1024 * 1024  # boundaries and small fields around the file

_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "format": {"type": "string", "enum": list(FORMATS), "description": "Default: detected by prep."},
        "has_header": {"type": "boolean", "description": "Whether the first line names the columns (csv/tsv)."},
        "text_column": {"type": "string", "description": "Text column: a name, or a 0-based index."},
        "label_column": {"type": "string", "description": "Label column: a name, or a 0-based index."},
        "slice_columns": {"type": "string", "description": "Columns for slice analysis, comma-separated: a,b"},
        "file": {"type": "string", "format": "binary", "description": "The data file; send it after the fields."},
    },
}
_OPENAPI = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not a multipart form, no `file` part, or fields after the file"},
    413: {"description": "The file is larger than INGEST_MAX_UPLOAD_BYTES"},
    422: {"description": "Bad data set name or mapping; empty, binary or undecodable file"},
    503: {"description": "INGEST_MAX_CONCURRENT_TRANSFERS uploads/imports in progress; retry after a moment"},
}


async def _fields_until_file(events: AsyncIterator[FormEvent]) -> tuple[dict[str, str], FileStart]:
    fields: dict[str, str] = {}
    async for event in events:
        if isinstance(event, FormField):
            if event.name not in MAPPING_FIELDS:
                raise FormError(f"unknown form field {event.name!r}; known: {', '.join(MAPPING_FIELDS)}, file")
            if event.name in fields:
                raise FormError(f"form field {event.name!r} is given twice")
            fields[event.name] = event.value
        elif isinstance(event, FileStart):
            if event.name != "file":
                raise FormError(f"the file goes in a form field named 'file', not {event.name!r}")
            return fields, event
    raise FormError("no file in the form: send it in a field named 'file'")


async def _file_body(events: AsyncIterator[FormEvent]) -> AsyncIterator[bytes]:
    """The file's bytes; ends only after the rest of the form proved empty (so nothing is stored before that)."""
    async for event in events:
        if isinstance(event, FileChunk):
            yield event.data
        elif isinstance(event, FileEnd):
            break
    async for event in events:
        if isinstance(event, FileStart):
            raise FormError("one file per upload")
        if isinstance(event, FormField):
            raise FormError(f"form field {event.name!r} comes after the file; send the fields first")


def _check_length(request: Request, limit: int) -> None:
    try:
        length = int(request.headers.get("content-length", ""))
    except ValueError:
        return  # chunked: the stream is counted instead
    if length > limit + FORM_OVERHEAD:
        raise HTTPException(413, f"the upload ({length} bytes) is larger than the limit of {limit} bytes")


@router.post(
    "/{dataset}/files",
    status_code=202,
    response_model=Receipt,
    summary="Upload a data file into raw/ (streamed; S3 multipart for large files)",
    openapi_extra=_OPENAPI,
    responses=_ERRORS,
)
async def upload_file(dataset: Dataset, request: Request, deps: Deps) -> Receipt | Response:
    """Stream the form's `file` to `raw/{dataset}/{upload_id}/{filename}` with the column mapping as S3 metadata.

    Send the mapping fields before the file. The answer comes once the object is durable in S3 and
    `dataset.ingested` is published; prep then prepares it (follow it at `GET /v1/datasets/{dataset}`).
    """
    limit = deps.settings.max_upload_bytes
    _check_length(request, limit)
    try:
        with http_errors(), deps.slots.take():
            boundary = boundary_of(request.headers.get("content-type"))
            events = form_events(request.stream(), boundary, max_field_bytes=deps.settings.max_form_field_bytes)
            fields, start = await _fields_until_file(events)
            mapping = build_mapping(
                format=fields.get("format"),
                has_header=fields.get("has_header"),
                text_column=fields.get("text_column"),
                label_column=fields.get("label_column"),
                slice_columns=fields.get("slice_columns"),
            )
            incoming = Incoming(dataset, safe_filename(start.filename), mapping, "upload", start.content_type)
            return await ingest(deps, incoming, _file_body(events), limit=limit)
    except ClientDisconnect:
        log.info("client disconnected during the upload; aborted, nothing stored", extra={"dataset": dataset})
        return JSONResponse({"detail": "client disconnected; nothing stored"}, status_code=400)
