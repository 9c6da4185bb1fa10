"""The registry's initial schema: data sets, versions, test sets, predictions, evaluations, approvals, deployments,
aliases, and the append-only ledger (UPDATE and DELETE refused by triggers on SQLite and PostgreSQL).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME, VERSION_ID, URI = sa.String(64), sa.String(64), sa.String(1024)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "registry_datasets",
        _id(),
        sa.Column("dataset", NAME, nullable=False),
        sa.Column("version", VERSION_ID, nullable=False),
        sa.Column("output_digest", sa.String(128), nullable=False),
        sa.Column("manifest_uri", URI, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("slice_columns", sa.JSON, nullable=False),
        sa.Column("splits", sa.JSON, nullable=False),
        sa.Column("recorded_from", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.UniqueConstraint("dataset", "version", name="uq_registry_dataset"),
    )
    op.create_table(
        "registry_versions",
        _id(),
        sa.Column("model_name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("candidate_id", sa.String(128), nullable=False, unique=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("study_id", sa.String(128), nullable=False),
        sa.Column("dataset", NAME, nullable=False),
        sa.Column("dataset_version", VERSION_ID, nullable=False),
        sa.Column("dataset_digest", sa.String(128), nullable=False),
        sa.Column("lineage_verified", sa.Boolean, nullable=False),
        sa.Column("lineage", sa.JSON, nullable=False),
        sa.Column("artifact_uri", URI, nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("triggered_by", sa.String(100), nullable=False),
        sa.Column("correlation_id", sa.String(128)),
        sa.Column("tracking", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("model_name", "version", name="uq_registry_version"),
    )
    op.create_table(
        "registry_testsets",
        _id(),
        sa.Column("dataset", NAME, nullable=False),
        sa.Column("version", VERSION_ID, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("slices", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("dataset", "version", name="uq_registry_testset"),
    )
    op.create_table(
        "registry_predictions",
        _id(),
        sa.Column("model_name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("dataset", NAME, nullable=False),
        sa.Column("dataset_version", VERSION_ID, nullable=False),
        sa.Column("predicted", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("model_name", "version", "dataset", "dataset_version", name="uq_registry_prediction"),
    )
    op.create_table(
        "registry_evaluations",
        _id(),
        sa.Column("model_name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("accuracy", sa.Float, nullable=False),
        sa.Column("macro_f1", sa.Float, nullable=False),
        sa.Column("mcc", sa.Float, nullable=False),
        sa.Column("max_slice_gap", sa.Float),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("model_name", "version", name="uq_registry_evaluation"),
    )
    op.create_table(
        "registry_approvals",
        _id(),
        sa.Column("model_name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gates", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(100)),
        sa.Column("reason", sa.Text),
        sa.Column("automatic", sa.Boolean, nullable=False),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("decided_at", sa.Float),
        sa.UniqueConstraint("model_name", "version", "environment", name="uq_registry_approval"),
    )
    op.create_table(
        "registry_deployments",
        _id(),
        sa.Column("model_name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("artifact_uri", URI, nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("verified_at", sa.Float, nullable=False),
        sa.UniqueConstraint("model_name", "version", "environment", name="uq_registry_deployment"),
    )
    op.create_table(
        "registry_aliases",
        _id(),
        sa.Column("model_name", NAME, nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("model_name", "environment", name="uq_registry_alias"),
    )
    op.create_table(
        "registry_ledger",
        _id(),
        sa.Column("model_name", NAME, nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_version", sa.Integer),
        sa.Column("to_version", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("event_id", sa.String(64)),
    )
    op.create_index("ix_registry_ledger_alias", "registry_ledger", ["model_name", "environment", "at"])
    _append_only("registry_ledger")
    op.create_table(
        "registry_outbox",
        _id(),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("published_at", sa.Float),
    )
    op.create_index("ix_registry_outbox_pending", "registry_outbox", ["published_at"])


def _append_only(table: str) -> None:
    """The ledger is history: refuse UPDATE and DELETE in the database itself, not only in our code."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql"""
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    elif op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS registry_ledger_no_change ON registry_ledger")
        op.execute("DROP FUNCTION IF EXISTS registry_ledger_append_only()")
    for table in (
        "registry_outbox",
        "registry_ledger",
        "registry_aliases",
        "registry_deployments",
        "registry_approvals",
        "registry_evaluations",
        "registry_predictions",
        "registry_testsets",
        "registry_versions",
        "registry_datasets",
    ):
        op.drop_table(table)
