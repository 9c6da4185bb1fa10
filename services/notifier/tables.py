"""The notifier's tables: the delivery log (one row per event and channel) and the collapse windows."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, text

metadata = MetaData()
deliveries = Table(
    "notifier_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("title", String(300), nullable=False),
    Column("target", String(1000), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("reason", Text),
    Column("collapsed", Integer, nullable=False),
    Column("window_id", Integer),
    Column("correlation_id", String(128)),
    Column("lease_until", Float, nullable=False),  # while `sending`: the sender is alive until then
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("event_id", "channel", name="uq_notifier_delivery"),
    Index("ix_notifier_deliveries_created", "created_at"),
)
windows = Table(
    "notifier_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("collapse_key", String(64), nullable=False),
    Column("leader_event_id", String(128), nullable=False),
    Column("envelope", Text, nullable=False),
    Column("recipients", Text, nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("closes_at", Float, nullable=False),
    Column("suppressed", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("claimed_until", Float, nullable=False),
    Index("ix_notifier_windows_state", "state", "closes_at"),
    Index(
        "uq_notifier_open_window",
        "channel",
        "collapse_key",
        unique=True,
        sqlite_where=text("state = 'open'"),
        postgresql_where=text("state = 'open'"),
    ),
)
