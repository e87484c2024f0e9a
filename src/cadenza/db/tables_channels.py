"""The ``channels`` and ``relays`` tables (migration 0013), on the shared MetaData."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Integer, String, Table, Text

from cadenza.db.tables import metadata
from cadenza.db.types import UTCDateTime

channels = Table(
    "channels",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("base_url", Text, nullable=False),
    #: Sealed with the server's channel secret; never stored or shown in the clear.
    Column("credential", Text, nullable=False),
    Column("models", JSON, nullable=False),
    Column("actions", JSON, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("max_in_flight", Integer, nullable=False),
    Column("submit_timeout_s", Float, nullable=False),
    Column("task_timeout_s", Float, nullable=False),
    Column("failure_threshold", Integer, nullable=False),
    Column("cooldown_s", Float, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

relays = Table(
    "relays",
    metadata,
    Column("task_id", String(36), ForeignKey("tasks.id"), primary_key=True),
    Column("channel_id", String(36), nullable=False, index=True),
    Column("submit_key", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("upstream_task_id", String(255), nullable=True),
    Column("refused_by", JSON, nullable=False),
    Column("clips", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
