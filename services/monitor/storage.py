"""The monitor's object-store port: read models and capture, write references and reports.

`S3ObjectStore` talks to S3 (moto, LocalStack or AWS through the runtime's client); `MemoryObjectStore` is the fake
the unit tests pass into the same code.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import ClientError

_MISSING = ("NoSuchKey", "404", "NotFound", "NoSuchBucket")


class ObjectStore(Protocol):
    async def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it (or its bucket) does not exist."""
        ...

    async def put(self, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream") -> None: ...

    async def keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key under the prefix (empty when the bucket does not exist)."""
        ...


class S3ObjectStore:
    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    async def get(self, bucket: str, key: str) -> bytes | None:
        try:
            response = await self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        async with response["Body"] as body:
            data: bytes = await body.read()
            return data

    async def put(self, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        await self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    async def keys(self, bucket: str, prefix: str) -> list[str]:
        out: list[str] = []
        try:
            async for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                out.extend(obj["Key"] for obj in page.get("Contents", []))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return []
            raise
        return out


class MemoryObjectStore:
    """Objects in a dict: the fake of the object-store port for unit tests."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    async def get(self, bucket: str, key: str) -> bytes | None:
        return self.objects.get((bucket, key))

    async def put(self, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.objects[(bucket, key)] = body

    async def keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))
