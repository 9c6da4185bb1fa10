"""Streaming bytes into one S3 object without holding the file: one PUT when small, a multipart upload when large.

At most one part (plus the chunk being added) is in memory at a time. A file smaller than a part is sent with one
PUT when it ends; a larger one becomes a multipart upload whose parts go out as they fill. Anything that stops the
stream early (client gone, size cap, bad bytes) calls `abort()`, which cancels the multipart upload so S3 keeps
nothing: no object, no orphaned parts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredObject:
    """A durable object: what S3 answered when the upload completed."""

    bucket: str
    key: str
    size: int
    etag: str | None
    version_id: str | None
    parts: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class S3StreamWriter:
    """Writes one object from successive chunks. Use `write()` then `finish()`, or `abort()` on any failure."""

    def __init__(
        self, s3: Any, bucket: str, key: str, *, part_size: int, metadata: dict[str, str], content_type: str
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.metadata = metadata
        self.content_type = content_type
        self.size = 0
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._closed = False

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        self.size += len(chunk)
        while len(self._buffer) >= self.part_size:
            part = bytes(self._buffer[: self.part_size])
            del self._buffer[: self.part_size]
            await self._upload_part(part)

    async def finish(self) -> StoredObject:
        """Make the object durable; after this returns it exists in S3 with its metadata."""
        if self._upload_id is None:
            answer = await self.s3.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=bytes(self._buffer),
                Metadata=self.metadata,
                ContentType=self.content_type,
            )
        else:
            if self._buffer:
                await self._upload_part(bytes(self._buffer))
            answer = await self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )
        self._buffer = bytearray()
        self._closed = True
        return StoredObject(
            bucket=self.bucket,
            key=self.key,
            size=self.size,
            etag=(answer.get("ETag") or "").strip('"') or None,
            version_id=answer.get("VersionId"),
            parts=max(1, len(self._parts)),
        )

    async def abort(self) -> None:
        """Drop what was sent so far. Safe to call twice, and from a cancelled task (the abort is shielded)."""
        self._buffer = bytearray()
        if self._closed:
            return
        self._closed = True
        if self._upload_id is not None:
            await asyncio.shield(self._abort_multipart(self._upload_id))

    async def _abort_multipart(self, upload_id: str) -> None:
        try:
            await self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
            log.info("aborted multipart upload", extra={"key": self.key, "parts": len(self._parts)})
        except Exception:
            # The parts stay (and cost) until a lifecycle rule (AbortIncompleteMultipartUpload) removes them.
            log.exception("could not abort multipart upload", extra={"key": self.key, "s3_upload_id": upload_id})

    async def _upload_part(self, data: bytes) -> None:
        if self._upload_id is None:
            created = await self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, Metadata=self.metadata, ContentType=self.content_type
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        answer = await self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=data
        )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
