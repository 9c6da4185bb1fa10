"""Parse SQS message bodies at the edge into typed inbound events.

A body is one of: an S3 notification (S3 -> SQS), an SNS notification wrapping our envelope (SNS -> SQS without raw
delivery), our envelope itself (raw delivery, or the scheduler), or S3's `s3:TestEvent`. AWS, LocalStack and moto
differ in small ways (eventVersion 2.0/2.1/2.2, `sequencer` present or not, optional `size`/`eTag`), so the models
accept every 2.x shape and reject anything else as poison.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.events import Envelope, S3Location

S3_OBJECT_CREATED = "s3.object_created"
S3_OBJECT_REMOVED = "s3.object_removed"


class PoisonMessage(ValueError):
    """A body that can never be handled; retrying will not help, the DLQ will keep it for a person."""


class _S3Object(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str
    size: int | None = None
    eTag: str | None = None
    versionId: str | None = None
    sequencer: str | None = None


class _S3Bucket(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class _S3Entity(BaseModel):
    model_config = ConfigDict(extra="ignore")
    bucket: _S3Bucket
    object: _S3Object


class S3Record(BaseModel):
    """One record of an S3 event notification, as AWS documents it (eventVersion 2.x)."""

    model_config = ConfigDict(extra="ignore")
    eventVersion: str = Field(pattern=r"^2\.\d+$")
    eventSource: Literal["aws:s3"]
    eventTime: datetime
    eventName: str
    awsRegion: str | None = None
    s3: _S3Entity


class S3ObjectEvent(BaseModel):
    """An object was created (or removed) in S3. Keys are already URL-decoded."""

    model_config = ConfigDict(frozen=True)

    kind: ClassVar[str] = "s3"
    type: str
    event_name: str
    event_time: datetime
    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None

    @classmethod
    def from_record(cls, record: S3Record) -> S3ObjectEvent:
        obj = record.s3.object
        created = record.eventName.startswith("ObjectCreated")
        return cls(
            type=S3_OBJECT_CREATED if created else S3_OBJECT_REMOVED,
            event_name=record.eventName,
            event_time=record.eventTime,
            bucket=record.s3.bucket.name,
            # S3 URL-encodes keys in notifications with '+' for spaces: unquote_plus, not unquote.
            key=unquote_plus(obj.key),
            size=obj.size,
            etag=obj.eTag.strip('"') if obj.eTag else None,
            version_id=obj.versionId or None,
            sequencer=obj.sequencer,
        )

    @property
    def location(self) -> S3Location:
        return S3Location(bucket=self.bucket, key=self.key, version_id=self.version_id, etag=self.etag)

    @property
    def identity(self) -> str:
        """What makes this object version unique; the basis of its idempotency key."""
        return f"{self.bucket}/{self.key}@{self.version_id or self.etag or self.sequencer or self.event_time}"


InboundEvent = Envelope | S3ObjectEvent


def event_type(event: InboundEvent) -> str:
    return event.type


def decode_body(body: str) -> list[InboundEvent]:
    """All events in one SQS body; an empty list for messages that carry nothing to do (s3:TestEvent)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PoisonMessage(f"body is not JSON: {exc}") from exc
    return _decode(data)


def _decode(data: Any) -> list[InboundEvent]:
    if not isinstance(data, dict):
        raise PoisonMessage("body is not a JSON object")
    if data.get("Type") == "Notification" and "Message" in data:
        try:  # SNS -> SQS without raw delivery wraps the message as a string.
            return _decode(json.loads(data["Message"]))
        except ValueError as exc:
            raise PoisonMessage(f"SNS message is not JSON: {exc}") from exc
    if data.get("Event") == "s3:TestEvent":
        return []
    if "Records" in data:
        return _decode_s3(data["Records"])
    if "type" in data and "payload" in data:
        try:
            return [Envelope.model_validate(data)]
        except (ValidationError, ValueError) as exc:
            raise PoisonMessage(f"invalid event envelope: {exc}") from exc
    raise PoisonMessage("unrecognised message shape")


def _decode_s3(records: Any) -> list[InboundEvent]:
    if not isinstance(records, list):
        raise PoisonMessage("Records is not a list")
    try:
        parsed = [S3Record.model_validate(r) for r in records]
    except ValidationError as exc:
        raise PoisonMessage(f"invalid S3 notification record: {exc}") from exc
    return [S3ObjectEvent.from_record(r) for r in parsed]
