"""The registry's tables (SQLAlchemy Core). The schema itself is created and changed only by the Alembic migrations
in `migrations/`; these definitions are what the code reads and writes, and a test checks both agree.

Times are epoch seconds (float): the same on SQLite and PostgreSQL, and exact to compare ("which version served prod
at time T").
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

datasets = Table(
    "registry_datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("output_digest", String(128), nullable=False),
    Column("manifest_uri", String(1024), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("slice_columns", JSON, nullable=False),
    Column("splits", JSON, nullable=False),
    Column("recorded_from", String(16), nullable=False),  # "event" (dataset.prepared) or "manifest" (read from S3)
    Column("recorded_at", Float, nullable=False),
    UniqueConstraint("dataset", "version", name="uq_registry_dataset"),
)

versions = Table(
    "registry_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("candidate_id", String(128), nullable=False, unique=True),
    Column("status", String(24), nullable=False),  # registered, reviewed, rejected, integrity_failed
    Column("status_reason", Text),
    Column("study_id", String(128), nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("dataset_version", String(64), nullable=False),
    Column("dataset_digest", String(128), nullable=False),
    Column("lineage_verified", Boolean, nullable=False),
    Column("lineage", JSON, nullable=False),  # manifest, model card, reference, transformer, experiments, params...
    Column("artifact_uri", String(1024), nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("triggered_by", String(100), nullable=False),
    Column("correlation_id", String(128)),
    Column("tracking", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("model_name", "version", name="uq_registry_version"),
)

testsets = Table(
    "registry_testsets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("labels", JSON, nullable=False),  # the true label of each row, in file order
    Column("slices", JSON, nullable=False),  # {column: [value of each row]}
    Column("created_at", Float, nullable=False),
    UniqueConstraint("dataset", "version", name="uq_registry_testset"),
)

predictions = Table(
    "registry_predictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("dataset_version", String(64), nullable=False),
    Column("predicted", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("model_name", "version", "dataset", "dataset_version", name="uq_registry_prediction"),
)

evaluations = Table(
    "registry_evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("accuracy", Float, nullable=False),
    Column("macro_f1", Float, nullable=False),
    Column("mcc", Float, nullable=False),
    Column("max_slice_gap", Float),
    Column("report", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("model_name", "version", name="uq_registry_evaluation"),
)

approvals = Table(
    "registry_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # pending, approved, rejected
    Column("gates", JSON, nullable=False),
    Column("actor", String(100)),
    Column("reason", Text),
    Column("automatic", Boolean, nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("decided_at", Float),
    UniqueConstraint("model_name", "version", "environment", name="uq_registry_approval"),
)

deployments = Table(  # the verified copy of a version in an environment's bucket
    "registry_deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("artifact_uri", String(1024), nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("files", JSON, nullable=False),  # model_card, reference, transformer URIs in the env bucket
    Column("verified_at", Float, nullable=False),
    UniqueConstraint("model_name", "version", "environment", name="uq_registry_deployment"),
)

aliases = Table(
    "registry_aliases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(64), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("revision", Integer, nullable=False),  # bumped by every move: the compare-and-set token
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("model_name", "environment", name="uq_registry_alias"),
)

ledger = Table(  # append-only: the migrations install triggers that refuse UPDATE and DELETE
    "registry_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(64), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("action", String(16), nullable=False),  # promote, rollback
    Column("from_version", Integer),
    Column("to_version", Integer, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("event_id", String(64)),
    Index("ix_registry_ledger_alias", "model_name", "environment", "at"),
)

outbox = Table(  # events of state changes, written in the same transaction as the change and published after it
    "registry_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("envelope", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("published_at", Float),
    Index("ix_registry_outbox_pending", "published_at"),
)
