"""`POST /v1/datasets/{dataset}/imports`: pull a file from an http(s) URL into raw/, streamed and SSRF-guarded."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from services.ingest.api.deps import Dataset, Deps, http_errors
from services.ingest.fetch import ImportFailed, open_source, public_origin
from services.ingest.ingesting import Incoming, Receipt, ingest, safe_filename
from services.ingest.mapping import MappingIn
from services.ingest.ssrf import parse_url

router = APIRouter(prefix="/v1/datasets", tags=["imports"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The URL resolves to a loopback, private, link-local or reserved address"},
    413: {"description": "The file is larger than INGEST_IMPORT_MAX_BYTES"},
    422: {"description": "Bad URL, data set name or mapping; empty, binary or undecodable file"},
    502: {"description": "The source failed (unreachable, error status, too many redirects)"},
    503: {"description": "INGEST_MAX_CONCURRENT_TRANSFERS uploads/imports in progress; retry after a moment"},
    504: {"description": "The import took longer than INGEST_IMPORT_TIMEOUT_SECONDS"},
}


class ImportRequest(MappingIn):
    """Where to fetch the file from, and (optionally) how to read it."""

    url: str = Field(description="An http(s) URL reachable from the service.", examples=["https://example.org/d.csv"])
    filename: str | None = Field(None, description="Name to store it under (default: from the URL).")


@router.post(
    "/{dataset}/imports",
    status_code=202,
    response_model=Receipt,
    summary="Import a data file from an http(s) URL into raw/",
    responses=_ERRORS,
)
async def import_file(dataset: Dataset, body: ImportRequest, deps: Deps) -> Receipt:
    """Fetch `url` (redirects followed and re-checked) and stream it to `raw/{dataset}/{upload_id}/{filename}`.

    The whole import (connect, download, store) is bounded in size and time; on any failure nothing is stored.
    """
    settings = deps.settings
    with http_errors(), deps.slots.take():
        mapping = body.to_mapping()
        origin = public_origin(parse_url(body.url))
        try:
            async with asyncio.timeout(settings.import_timeout_seconds):
                async with open_source(
                    body.url,
                    allow_private=settings.allow_private_imports,
                    max_redirects=settings.import_max_redirects,
                    connect_timeout=settings.import_connect_timeout_seconds,
                    limit=settings.import_max_bytes,
                ) as source:
                    name = safe_filename(body.filename or source.filename, default="import")
                    incoming = Incoming(dataset, name, mapping, "import", source.content_type, origin)
                    return await ingest(
                        deps, incoming, source.chunks(settings.import_max_bytes), limit=settings.import_max_bytes
                    )
        except TimeoutError as exc:
            limit = settings.import_timeout_seconds
            raise ImportFailed(504, f"the import took longer than {limit:g} s; nothing was stored") from exc
