"""The registry's S3 port: hashing, downloading, copying and presigning objects (artifacts, cards, test sets).

`ArtifactStore` is the port; `S3Artifacts` its aiobotocore implementation (moto, LocalStack or AWS: only the
endpoint differs). Unit tests use an in-memory fake of the same port.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from shared.events import S3Location

CHUNK = 1 << 20


class MissingObject(LookupError):
    """The object does not exist (or cannot be read)."""


class ArtifactStore(Protocol):
    async def sha256(self, location: S3Location) -> str: ...
    async def read(self, location: S3Location) -> bytes: ...
    async def download(self, location: S3Location, path: Path) -> str: ...
    async def copy(self, source: S3Location, target: S3Location) -> None: ...
    async def delete(self, location: S3Location) -> None: ...
    async def exists(self, location: S3Location) -> bool: ...
    async def keys(self, bucket: str, prefix: str) -> list[str]: ...
    async def presign(self, location: S3Location, seconds: int) -> str: ...


def _remove(path: str) -> None:
    Path(path).unlink(missing_ok=True)


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("NoSuchKey", "404", "NotFound", "NoSuchBucket", "403", "AccessDenied")


class S3Artifacts:
    """ArtifactStore on an aiobotocore S3 client."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    async def _body(self, location: S3Location) -> Any:
        try:
            return (await self.s3.get_object(Bucket=location.bucket, Key=location.key))["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise MissingObject(location.uri) from exc
            raise

    async def sha256(self, location: S3Location) -> str:
        """sha256 of the object's bytes, streamed (a model file never sits in memory whole)."""
        digest = hashlib.sha256()
        async with await self._body(location) as body:
            while block := await body.read(CHUNK):
                digest.update(block)
        return digest.hexdigest()

    async def read(self, location: S3Location) -> bytes:
        async with await self._body(location) as body:
            return bytes(await body.read())

    async def download(self, location: S3Location, path: Path) -> str:
        """Stream the object into `path` (atomically: a temp file renamed) and return its sha256. File writes run
        in a thread: the event loop never waits on the disk."""
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = await asyncio.to_thread(tempfile.mkstemp, dir=path.parent, prefix=".part-")
        handle = os.fdopen(fd, "wb")
        try:
            async with await self._body(location) as body:
                while block := await body.read(CHUNK):
                    digest.update(block)
                    await asyncio.to_thread(handle.write, block)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, tmp, path)
        except BaseException:
            handle.close()
            await asyncio.to_thread(_remove, tmp)
            raise
        return digest.hexdigest()

    async def copy(self, source: S3Location, target: S3Location) -> None:
        """Server-side copy (the target bucket may belong to another account that grants us read on the source)."""
        try:
            await self.s3.copy_object(
                Bucket=target.bucket,
                Key=target.key,
                CopySource={"Bucket": source.bucket, "Key": source.key},
                MetadataDirective="COPY",
            )
        except ClientError as exc:
            if _missing(exc):
                raise MissingObject(source.uri) from exc
            raise

    async def delete(self, location: S3Location) -> None:
        await self.s3.delete_object(Bucket=location.bucket, Key=location.key)

    async def exists(self, location: S3Location) -> bool:
        try:
            await self.s3.head_object(Bucket=location.bucket, Key=location.key)
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    async def keys(self, bucket: str, prefix: str) -> list[str]:
        out: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                out += [item["Key"] for item in page.get("Contents", [])]
        except ClientError as exc:
            if _missing(exc):
                return []
            raise
        return sorted(out)

    async def presign(self, location: S3Location, seconds: int) -> str:
        return str(
            await self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": location.bucket, "Key": location.key}, ExpiresIn=seconds
            )
        )
