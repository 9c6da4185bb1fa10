"""The blocking reader over an async source: bytes and digest pass through, and a stop ends a blocked read."""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading

import pytest

from services.prep.streams import BridgedReader, Stopped


async def test_bytes_and_digest_pass_through_from_the_loop() -> None:
    source = io.BytesIO(b"hello world\n" * 1000)

    async def read(n: int) -> bytes:
        return source.read(n)

    reader = BridgedReader(read, asyncio.get_running_loop(), threading.Event())
    data = await asyncio.to_thread(lambda: io.BufferedReader(reader, 4096).read())
    assert data == b"hello world\n" * 1000
    assert reader.sha256.hexdigest() == hashlib.sha256(data).hexdigest() and reader.size == len(data)


async def test_a_stop_ends_a_read_that_would_block() -> None:
    never = asyncio.Event()

    async def read(n: int) -> bytes:
        await never.wait()
        return b""

    stop = threading.Event()
    reader = BridgedReader(read, asyncio.get_running_loop(), stop)
    blocked = asyncio.create_task(asyncio.to_thread(reader.read, 10))
    await asyncio.sleep(0.2)
    stop.set()
    with pytest.raises(Stopped):
        await blocked
