"""Personas and playlists, on the shared MetaData (migration ``0003_library``)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, String, Table, Text

from cadenza.db.tables import SeqType, metadata
from cadenza.db.types import UTCDateTime

personas = Table(
    "personas",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("key_id", String(36), ForeignKey("api_keys.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("persona_type", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("is_public", Boolean, nullable=False),
    Column("root_clip_id", String(36), nullable=False),
    Column("clip_ids", JSON, nullable=False),
    Column("voice", JSON, nullable=False),
    Column("style", JSON, nullable=False),
    Column("reference", JSON, nullable=False),
    Column("task_id", String(36), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_personas_key_id_seq", "key_id", "seq"),
)

playlists = Table(
    "playlists",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("key_id", String(36), ForeignKey("api_keys.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("clip_ids", JSON, nullable=False),
    Column("task_id", String(36), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_playlists_key_id_seq", "key_id", "seq"),
)
