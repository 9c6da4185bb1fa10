"""The object-store port: S3 through aiobotocore in the service, an in-memory fake in unit tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, BinaryIO, Protocol

CHUNK = 8 * 1024 * 1024


class ObjectStore(Protocol):
    async def get_bytes(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, None when it does not exist."""
        ...

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None: ...

    async def download(self, bucket: str, key: str, target: Path) -> int:
        """Stream the object into `target`; returns its size."""
        ...


class S3Store:
    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    async def get_bytes(self, bucket: str, key: str) -> bytes | None:
        try:
            answer = await self.s3.get_object(Bucket=bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return None
        async with answer["Body"] as body:
            data: bytes = await body.read()
        return data

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        await self.s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    async def download(self, bucket: str, key: str, target: Path) -> int:
        answer = await self.s3.get_object(Bucket=bucket, Key=key)
        size = 0
        handle: BinaryIO = await asyncio.to_thread(open, target, "wb")
        try:
            async with answer["Body"] as body:
                while chunk := await body.read(CHUNK):
                    size += len(chunk)
                    await asyncio.to_thread(handle.write, chunk)  # disk writes stay off the event loop
        finally:
            await asyncio.to_thread(handle.close)
        return size


class MemoryStore:
    """Objects in a dict; `down = True` makes every call fail like an unreachable S3."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("object store unreachable")

    async def get_bytes(self, bucket: str, key: str) -> bytes | None:
        self._check()
        return self.objects.get((bucket, key))

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self._check()
        self.objects[(bucket, key)] = data

    async def download(self, bucket: str, key: str, target: Path) -> int:
        self._check()
        data = self.objects[(bucket, key)]
        await asyncio.to_thread(target.write_bytes, data)
        return len(data)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(key for _, key in self.objects if key.startswith(prefix))
