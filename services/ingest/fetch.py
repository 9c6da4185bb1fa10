"""Fetching an import's URL as a stream: every hop vetted against SSRF, size and status checked before any byte."""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import unquote

import httpx
from python_multipart.multipart import parse_options_header

from services.ingest.ssrf import vet

USER_AGENT = "mlops-ingest/1 (+dataset import)"
CHUNK = 256 * 1024


class ImportFailed(RuntimeError):
    """The source could not deliver the file; `status_code` is what the client gets."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class SourceTooLarge(ImportFailed):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the file is larger than the import limit of {limit} bytes")


@dataclass(frozen=True)
class Source:
    """An open response ready to stream, and what it says about the file."""

    response: httpx.Response
    url: httpx.URL
    filename: str | None
    content_type: str
    length: int | None

    async def chunks(self, limit: int) -> AsyncIterator[bytes]:
        """The body in chunks; stops with SourceTooLarge as soon as it passes `limit`."""
        seen = 0
        # Raw bytes: decoding a compressed transfer here could turn one small chunk into a huge one in memory.
        stream = self.response.aiter_raw(CHUNK)
        while True:
            try:
                chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except httpx.HTTPError as exc:
                raise ImportFailed(502, f"the source stopped sending: {exc!r}") from exc
            seen += len(chunk)
            if seen > limit:
                raise SourceTooLarge(limit)
            yield chunk


def public_origin(url: httpx.URL) -> str:
    """The URL without credentials, query or fragment (those may hold secrets; they never reach a record)."""
    return str(url.copy_with(username=None, password=None, query=None, fragment=None))


def _filename(response: httpx.Response, url: httpx.URL) -> str | None:
    _, options = parse_options_header(response.headers.get("content-disposition", ""))
    if name := options.get(b"filename"):
        return name.decode("utf-8", "replace")
    return unquote(posixpath.basename(url.path)) or None


def _length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


@asynccontextmanager
async def open_source(
    url: str, *, allow_private: bool, max_redirects: int, connect_timeout: float, limit: int
) -> AsyncIterator[Source]:
    """GET the URL (following vetted redirects); the response stays open for streaming inside the block."""
    timeout = httpx.Timeout(connect_timeout, read=60.0)
    # trust_env=False: a proxy from the environment would connect on our behalf to an address we did not check.
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout) as client:
        current = httpx.URL(url)
        for _ in range(max_redirects + 1):
            target = await vet(current, allow_private=allow_private)
            request = client.build_request(
                "GET",
                target.pinned_url,
                headers={"Host": target.host_header, "User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                extensions=target.extensions,
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise ImportFailed(502, f"could not fetch {public_origin(current)}: {exc!r}") from exc
            try:
                if response.is_redirect and "location" in response.headers:
                    current = current.join(response.headers["location"])
                    continue
                yield _checked(response, current, limit)
                return
            finally:
                await response.aclose()
        raise ImportFailed(502, f"more than {max_redirects} redirects")


def _checked(response: httpx.Response, url: httpx.URL, limit: int) -> Source:
    if response.status_code >= 400:
        raise ImportFailed(502, f"the source answered HTTP {response.status_code} for {public_origin(url)}")
    if response.status_code != 200:
        raise ImportFailed(502, f"the source answered HTTP {response.status_code}, expected 200")
    length = _length(response)
    if length is not None and length > limit:
        raise SourceTooLarge(limit)
    content_type = response.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    return Source(response, url, _filename(response, url), content_type, length)
