"""A blocking, hashing reader over an async byte source, so that parsing runs in a worker thread while the S3
download stays on the event loop (one client, one connection pool)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import io
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any


class Stopped(Exception):
    """Blocking work noticed that its caller gave up (the service is shutting down)."""


AsyncRead = Callable[[int], Coroutine[Any, Any, bytes]]


class BridgedReader(io.RawIOBase):
    """`readinto` blocks the calling (worker) thread on `read(n)` run in `loop`; sha256 and size of all bytes read."""

    def __init__(
        self, read: AsyncRead, loop: asyncio.AbstractEventLoop, stop: threading.Event, timeout: float = 120
    ) -> None:
        super().__init__()
        self._read = read
        self._loop = loop
        self._stop = stop
        self._timeout = timeout
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        future = asyncio.run_coroutine_threadsafe(self._read(len(buffer)), self._loop)
        deadline = time.monotonic() + self._timeout
        while True:  # wait in slices, so that a stopping service is noticed
            if self._stop.is_set():
                future.cancel()
                raise Stopped("the preparation was cancelled")
            try:
                data: bytes = future.result(0.5)
                break
            except concurrent.futures.TimeoutError:
                if time.monotonic() > deadline:
                    future.cancel()
                    raise TimeoutError(f"no bytes from the source within {self._timeout}s") from None
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
