"""The object-store port prep needs, its S3 implementation (aiobotocore) and an in-memory fake for unit tests.

Outputs are uploaded from local temp files: one PUT when small, else a multipart upload of `part_size` parts read
one at a time, so memory does not grow with the file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from services.prep.streams import AsyncRead

log = logging.getLogger(__name__)
_MISSING = ("404", "NoSuchKey", "NoSuchVersion", "NotFound")


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str | None
    version_id: str | None
    metadata: dict[str, str]


class ObjectStore(Protocol):
    async def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo | None: ...
    async def read_range(self, info: ObjectInfo, start: int, end: int) -> bytes: ...
    async def open_reader(self, info: ObjectInfo) -> tuple[AsyncRead, Callable[[], None]]: ...
    async def get_bytes(self, bucket: str, key: str) -> bytes | None: ...
    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None: ...
    async def upload_file(self, bucket: str, key: str, path: Path, content_type: str) -> None: ...
    async def copy(self, info: ObjectInfo, key: str) -> None: ...


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


class S3Store:
    """`ObjectStore` on S3 (or the moto server / LocalStack, by AWS_ENDPOINT_URL)."""

    def __init__(self, s3: Any, part_size: int) -> None:
        self.s3 = s3
        self.part_size = part_size

    @staticmethod
    def _version(info_version: str | None) -> dict[str, str]:
        return {"VersionId": info_version} if info_version else {}

    async def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo | None:
        try:
            head = await self.s3.head_object(Bucket=bucket, Key=key, **self._version(version_id))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        etag = str(head.get("ETag", "")).strip('"') or None
        metadata = {str(k).lower(): str(v) for k, v in head.get("Metadata", {}).items()}
        version = head.get("VersionId") or version_id
        if version == "null":
            version = None
        return ObjectInfo(bucket, key, int(head["ContentLength"]), etag, version, metadata)

    async def read_range(self, info: ObjectInfo, start: int, end: int) -> bytes:
        response = await self.s3.get_object(
            Bucket=info.bucket, Key=info.key, Range=f"bytes={start}-{end}", **self._version(info.version_id)
        )
        async with response["Body"] as body:
            return bytes(await body.read())

    async def open_reader(self, info: ObjectInfo) -> tuple[AsyncRead, Callable[[], None]]:
        response = await self.s3.get_object(Bucket=info.bucket, Key=info.key, **self._version(info.version_id))
        body = response["Body"]

        async def read(n: int) -> bytes:
            return bytes(await body.read(n))

        return read, body.close

    async def get_bytes(self, bucket: str, key: str) -> bytes | None:
        try:
            response = await self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        async with response["Body"] as body:
            return bytes(await body.read())

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        await self.s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    async def upload_file(self, bucket: str, key: str, path: Path, content_type: str) -> None:
        size = (await asyncio.to_thread(path.stat)).st_size
        if size <= self.part_size:
            await self.put_bytes(bucket, key, await asyncio.to_thread(path.read_bytes), content_type)
            return
        upload = await self.s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
        upload_id = upload["UploadId"]
        try:
            parts = await self._upload_parts(bucket, key, upload_id, path)
            await self.s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            await asyncio.shield(self.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id))
            raise

    async def _upload_parts(self, bucket: str, key: str, upload_id: str, path: Path) -> list[dict[str, Any]]:
        parts = []
        with path.open("rb") as f:
            number = 1
            while chunk := await asyncio.to_thread(f.read, self.part_size):
                part = await self.s3.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"PartNumber": number, "ETag": part["ETag"]})
                number += 1
        return parts

    async def copy(self, info: ObjectInfo, key: str) -> None:
        source = {"Bucket": info.bucket, "Key": info.key, **self._version(info.version_id)}
        if info.size <= 5 * 1024**3:
            await self.s3.copy_object(Bucket=info.bucket, Key=key, CopySource=source)
            return
        upload_id = (await self.s3.create_multipart_upload(Bucket=info.bucket, Key=key))["UploadId"]
        parts, start, number = [], 0, 1
        while start < info.size:  # objects over 5 GiB copy in ranges
            end = min(start + 1024**3, info.size) - 1
            part = await self.s3.upload_part_copy(
                Bucket=info.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append({"PartNumber": number, "ETag": part["CopyPartResult"]["ETag"]})
            start, number = end + 1, number + 1
        await self.s3.complete_multipart_upload(
            Bucket=info.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )


@dataclass
class MemoryStore:
    """In-memory `ObjectStore`: the fake of this port for unit tests. `objects[(bucket, key)] = (bytes, metadata)`."""

    objects: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)  # keys in write order (manifest must come last)

    def put(self, bucket: str, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self.objects[(bucket, key)] = (data, dict(metadata or {}))

    async def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo | None:
        if (bucket, key) not in self.objects:
            return None
        data, metadata = self.objects[(bucket, key)]
        return ObjectInfo(bucket, key, len(data), f"etag-{len(data)}", version_id, metadata)

    async def read_range(self, info: ObjectInfo, start: int, end: int) -> bytes:
        return self.objects[(info.bucket, info.key)][0][start : end + 1]

    async def open_reader(self, info: ObjectInfo) -> tuple[AsyncRead, Callable[[], None]]:
        data = self.objects[(info.bucket, info.key)][0]
        position = 0

        async def read(n: int) -> bytes:
            nonlocal position
            chunk = data[position : position + n]
            position += len(chunk)
            return chunk

        return read, lambda: None

    async def get_bytes(self, bucket: str, key: str) -> bytes | None:
        found = self.objects.get((bucket, key))
        return found[0] if found else None

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self.put(bucket, key, data)
        self.writes.append(key)

    async def upload_file(self, bucket: str, key: str, path: Path, content_type: str) -> None:
        await self.put_bytes(bucket, key, await asyncio.to_thread(path.read_bytes), content_type)

    async def copy(self, info: ObjectInfo, key: str) -> None:
        self.objects[(info.bucket, key)] = self.objects[(info.bucket, info.key)]
        self.writes.append(key)
