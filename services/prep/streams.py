"""A blocking, hashing reader over an async byte source, so that parsing runs in a worker thread while the S3
download stays on the event loop (one client, one connection pool)."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable, Coroutine
from typing import Any

AsyncRead = Callable[[int], Coroutine[Any, Any, bytes]]


class BridgedReader(io.RawIOBase):
    """`readinto` blocks the calling (worker) thread on `read(n)` run in `loop`; sha256 and size of all bytes read."""

    def __init__(self, read: AsyncRead, loop: asyncio.AbstractEventLoop, timeout: float = 120) -> None:
        super().__init__()
        self._read = read
        self._loop = loop
        self._timeout = timeout
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data: bytes = asyncio.run_coroutine_threadsafe(self._read(len(buffer)), self._loop).result(self._timeout)
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        self.size += n
        return n


class HashingReader(io.RawIOBase):
    """The same accounting over a blocking binary file (tests, local files)."""

    def __init__(self, raw: io.BufferedIOBase | io.RawIOBase | Any) -> None:
        super().__init__()
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        self.size += n
        return n
