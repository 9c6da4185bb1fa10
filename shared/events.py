"""The domain event catalog: one envelope, one typed payload per event type.

Events are past-tense facts. Every service publishes through the same envelope so that a consumer can route on
`type`, follow a data set with `correlation_id`, and de-duplicate on `id` (ids are deterministic for events emitted
while handling a message, see `shared.bus`). Payload models are the contract between services: add fields with
defaults, bump `schema_version` on a breaking change, and re-export the JSON schemas (`make schemas`).
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator

Severity = Literal["info", "warning", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "high", "critical")


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventPayload(BaseModel):
    """Base of every payload. Subclasses set the wire name, version and default severity."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    default_severity: ClassVar[Severity] = "info"

    def severity(self) -> Severity:
        return self.default_severity


class S3Location(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
        bucket, key = uri[5:].split("/", 1)
        if not bucket or not key:
            raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
        return cls(bucket=bucket, key=key)


class ColumnMapping(BaseModel):
    """How to read a raw file. Every field is optional: what is missing is detected (or the file is rejected)."""

    model_config = ConfigDict(frozen=True)

    format: Literal["csv", "tsv", "jsonl", "fasttext"] | None = None
    has_header: bool | None = None
    text_column: str | None = None
    label_column: str | None = None
    slice_columns: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------- data
class DatasetIngested(EventPayload):
    event_type: ClassVar[str] = "dataset.ingested"
    dataset: str
    upload_id: str
    source: Literal["upload", "import"]
    location: S3Location
    size_bytes: int
    filename: str
    mapping: ColumnMapping = ColumnMapping()
    origin: str | None = None  # where an import came from (its URL without credentials or query)


class SplitCounts(BaseModel):
    model_config = ConfigDict(frozen=True)
    total: int
    per_label: dict[str, int]


class DatasetPrepared(EventPayload):
    event_type: ClassVar[str] = "dataset.prepared"
    dataset: str
    version: str
    source: S3Location
    manifest: S3Location
    labels: list[str]
    splits: dict[str, SplitCounts]
    slice_columns: list[str] = []
    input_sha256: str
    output_digest: str
    rows_in: int
    rows_dropped: dict[str, int] = {}


class DatasetRejected(EventPayload):
    event_type: ClassVar[str] = "dataset.rejected"
    default_severity: ClassVar[Severity] = "warning"
    dataset: str
    source: S3Location
    reason: str
    details: list[str] = []
    quarantine: S3Location | None = None


# ------------------------------------------------------------------------------------------ training
class TrainingRequested(EventPayload):
    """Someone (a person, the monitor's retraining policy) asks for a study on a data set version."""

    event_type: ClassVar[str] = "training.requested"
    dataset: str
    version: str | None = None  # None: the latest prepared version
    reason: str
    requested_by: str
    # Changes to the trainer's default study: n_trials, timeout_seconds, objective, seed, pruner, search_space
    # (a partial search space, merged onto the default). Empty: the default study.
    overrides: dict[str, Any] = {}


class TrainingStarted(EventPayload):
    event_type: ClassVar[str] = "training.started"
    study_id: str
    dataset: str
    version: str
    manifest: S3Location
    n_trials: int
    backend: str


class TrainingCompleted(EventPayload):
    event_type: ClassVar[str] = "training.completed"
    study_id: str
    model_name: str
    candidate_id: str
    dataset: str
    version: str
    dataset_digest: str
    manifest: S3Location
    artifact: S3Location
    artifact_sha256: str
    model_card: S3Location
    experiments_prefix: str
    objective: str
    best_value: float
    params: dict[str, Any]
    dev_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    seed: int
    code_version: str
    triggered_by: str = "system"
    trials_completed: int = 0
    trials_pruned: int = 0
    trials_failed: int = 0


class TrainingFailed(EventPayload):
    event_type: ClassVar[str] = "training.failed"
    default_severity: ClassVar[Severity] = "high"
    study_id: str | None = None
    dataset: str
    version: str | None = None
    reason: str


# ------------------------------------------------------------------------------------------ registry
class ModelRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    model_name: str
    version: int


class ModelRegistered(EventPayload):
    event_type: ClassVar[str] = "model.registered"
    model_name: str
    version: int
    candidate_id: str
    artifact: S3Location
    artifact_sha256: str
    dataset: str
    dataset_version: str
    study_id: str
    # False when the registry could not confirm the data set the candidate was trained on (it is then recorded as
    # rejected, never reviewed or promoted); status is the version's state right after registration.
    lineage_verified: bool = True
    status: str = "registered"


class ModelEvaluated(EventPayload):
    event_type: ClassVar[str] = "model.evaluated"
    model_name: str
    version: int
    metrics: dict[str, Any]
    comparisons: list[dict[str, Any]] = []
    slice_gaps: dict[str, float] = {}
    report_url: str | None = None


class ModelApprovalRequested(EventPayload):
    event_type: ClassVar[str] = "model.approval_requested"
    default_severity: ClassVar[Severity] = "warning"
    model_name: str
    version: int
    environment: str
    failed_gates: list[str] = []
    approval_url: str


class ModelApproved(EventPayload):
    event_type: ClassVar[str] = "model.approved"
    model_name: str
    version: int
    environment: str
    actor: str
    reason: str
    automatic: bool = False


class ModelRejected(EventPayload):
    event_type: ClassVar[str] = "model.rejected"
    default_severity: ClassVar[Severity] = "warning"
    model_name: str
    version: int
    environment: str
    actor: str
    reason: str


class ModelPromoted(EventPayload):
    event_type: ClassVar[str] = "model.promoted"
    model_name: str
    version: int
    environment: str
    previous_version: int | None = None
    artifact: S3Location
    artifact_sha256: str
    actor: str
    reason: str = ""


class ModelRolledBack(EventPayload):
    event_type: ClassVar[str] = "model.rolled_back"
    default_severity: ClassVar[Severity] = "high"
    model_name: str
    environment: str
    from_version: int
    to_version: int
    artifact: S3Location
    artifact_sha256: str
    actor: str
    reason: str


class ModelIntegrityFailed(EventPayload):
    """An artifact's bytes do not match the registry's checksum: it is never loaded or promoted."""

    event_type: ClassVar[str] = "model.integrity_failed"
    default_severity: ClassVar[Severity] = "critical"
    model_name: str
    version: int
    environment: str | None = None
    artifact: S3Location
    expected_sha256: str
    actual_sha256: str | None
    detected_by: str


# ------------------------------------------------------------------------------------ serving, drift
class PredictionCaptured(EventPayload):
    event_type: ClassVar[str] = "prediction.captured"
    environment: str
    model_name: str
    version: int
    capture: S3Location
    records: int


class DriftCheckScheduled(EventPayload):
    """Sent by the schedule (EventBridge Scheduler on AWS, the embedded scheduler locally)."""

    event_type: ClassVar[str] = "drift.check_scheduled"
    environment: str | None = None  # None: every environment with a model
    schedule: str = ""
    # An explicit window (`POST /v1/runs`); None: since the environment's last decisive run (or the promotion).
    window_start: datetime | None = None
    window_end: datetime | None = None
    requested_by: str = "schedule"


class DriftChecked(EventPayload):
    event_type: ClassVar[str] = "drift.checked"
    run_id: str
    environment: str
    model_name: str | None = None
    version: int | None = None
    verdict: Literal["drift", "no_drift", "not_enough_data", "error"]
    reason: str = ""
    checks: dict[str, Any] = {}
    report_url: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    counts: dict[str, int] = {}  # records, sampled, labelled, corrupted_lines, ...


class DriftDetected(EventPayload):
    event_type: ClassVar[str] = "drift.detected"
    default_severity: ClassVar[Severity] = "warning"
    run_id: str
    environment: str
    model_name: str | None = None
    version: int | None = None
    level: Severity = "warning"
    drifted_checks: list[str]
    consecutive_runs: int = 1
    action: Literal["alert", "retrain"] = "alert"
    report_url: str | None = None

    def severity(self) -> Severity:
        return self.level


class PipelineFailed(EventPayload):
    event_type: ClassVar[str] = "pipeline.failed"
    default_severity: ClassVar[Severity] = "high"
    queue: str
    reason: str
    dead_letters: int = 0
    oldest_age_seconds: float | None = None
    sample_message: str | None = None


# -------------------------------------------------------------------------------------- notification
class NotificationSent(EventPayload):
    event_type: ClassVar[str] = "notification.sent"
    event_id: str
    notified_type: str
    channel: str
    attempts: int
    collapsed: int = 1


class NotificationFailed(EventPayload):
    event_type: ClassVar[str] = "notification.failed"
    default_severity: ClassVar[Severity] = "high"
    event_id: str
    notified_type: str
    channel: str
    attempts: int
    reason: str


P = TypeVar("P", bound=EventPayload)

CATALOG: dict[str, type[EventPayload]] = {
    cls.event_type: cls
    for cls in (
        DatasetIngested,
        DatasetPrepared,
        DatasetRejected,
        TrainingRequested,
        TrainingStarted,
        TrainingCompleted,
        TrainingFailed,
        ModelRegistered,
        ModelEvaluated,
        ModelApprovalRequested,
        ModelApproved,
        ModelRejected,
        ModelPromoted,
        ModelRolledBack,
        ModelIntegrityFailed,
        PredictionCaptured,
        DriftCheckScheduled,
        DriftChecked,
        DriftDetected,
        PipelineFailed,
        NotificationSent,
        NotificationFailed,
    )
}


class Envelope(BaseModel):
    """The one wire format of every domain event."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    type: str
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str
    causation_id: str | None = None
    source: str
    severity: Severity = "info"
    payload: SerializeAsAny[EventPayload]

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, data: Any) -> Any:
        # Parse the payload into the class the catalog names, so handlers receive typed facts.
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            kind = CATALOG.get(str(data.get("type")))
            if kind is None:
                raise ValueError(f"unknown event type {data.get('type')!r}")
            data = {**data, "payload": kind.model_validate(data["payload"])}
        return data

    @classmethod
    def wrap(
        cls,
        payload: EventPayload,
        *,
        source: str,
        correlation_id: str,
        causation_id: str | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        return cls(
            id=event_id or uuid.uuid4().hex,
            type=payload.event_type,
            schema_version=payload.schema_version,
            correlation_id=correlation_id,
            causation_id=causation_id,
            source=source,
            severity=payload.severity(),
            payload=payload,
        )

    def payload_as(self, kind: builtins.type[P]) -> P:
        if not isinstance(self.payload, kind):
            raise TypeError(f"event {self.type} carries {type(self.payload).__name__}, not {kind.__name__}")
        return self.payload
