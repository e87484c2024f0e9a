"""The ``uploads`` table (migration 0002), on the shared MetaData."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, Text

from cadenza.db.tables import metadata
from cadenza.db.types import UTCDateTime

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("key_id", String(36), ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("extension", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("storage_key", Text, nullable=True),
    Column("size", BigInteger, nullable=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
