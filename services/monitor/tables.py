"""The monitor's tables (SQLite locally, PostgreSQL shared by replicas): references, runs, schedule and alert state."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text

metadata = MetaData()

# One row per (environment, model version) the monitor was told about; the environment's reference is the row of
# the latest promotion (by the event's time, so out-of-order deliveries cannot bring back an older model).
references = Table(
    "monitor_references",
    metadata,
    Column("environment", String(16), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # ready | unavailable
    Column("reason", Text, nullable=False, default=""),
    Column("bucket", String(255), nullable=False),
    Column("prefix", String(1024), nullable=False),
    Column("dataset", String(128), nullable=False, default=""),
    Column("promoted_at", Float, nullable=False),
    Column("recorded_at", Float, nullable=False),
    PrimaryKeyConstraint("environment", "model_name", "version", name="pk_monitor_references"),
)

runs = Table(
    "monitor_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("event_id", String(128), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # running | done
    Column("verdict", String(32)),  # drift | no_drift | not_enough_data | error
    Column("reason", Text, nullable=False, default=""),
    Column("trigger", String(32), nullable=False),
    Column("model_name", String(128)),
    Column("version", Integer),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("checks", Text, nullable=False, default="{}"),  # JSON: name -> summary
    Column("counts", Text, nullable=False, default="{}"),  # JSON: records, sampled, corrupted lines ...
    Column("reports", Text, nullable=False, default="{}"),  # JSON: name -> {html, json} S3 URIs
    Column("level", String(16)),  # warning | high, when drifted
    Column("consecutive", Integer, nullable=False, default=0),
    Column("action", String(16)),  # alert | retrain, when drifted
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    Index("ix_monitor_runs_env_created", "environment", "created_at"),
    Index("ix_monitor_runs_event", "event_id"),
)

schedule_state = Table(
    "monitor_schedule",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("expression", String(255), nullable=False),
    Column("last_fired_at", Float, nullable=False),  # or the anchor of a rate() schedule never fired yet
)

# What was last alerted per (queue, problem), so the same stuck work is not announced on every inspection.
pipeline_alerts = Table(
    "monitor_pipeline_alerts",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("level", Float, nullable=False),  # dead letters counted, or the backlog's start time
    Column("alerted_at", Float, nullable=False),
    Column("alerts", Integer, nullable=False),
)
