"""Library: personas and playlists.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cadenza.db.types import UTCDateTime

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "personas",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("persona_type", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("root_clip_id", sa.String(36), nullable=False),
        sa.Column("clip_ids", sa.JSON(), nullable=False),
        sa.Column("voice", sa.JSON(), nullable=False),
        sa.Column("style", sa.JSON(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name="fk_personas_key_id_api_keys"),
        sa.PrimaryKeyConstraint("seq", name="pk_personas"),
        sa.UniqueConstraint("id", name="uq_personas_id"),
    )
    op.create_index("ix_personas_key_id_seq", "personas", ["key_id", "seq"])

    op.create_table(
        "playlists",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("clip_ids", sa.JSON(), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name="fk_playlists_key_id_api_keys"),
        sa.PrimaryKeyConstraint("seq", name="pk_playlists"),
        sa.UniqueConstraint("id", name="uq_playlists_id"),
    )
    op.create_index("ix_playlists_key_id_seq", "playlists", ["key_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_playlists_key_id_seq", table_name="playlists")
    op.drop_table("playlists")
    op.drop_index("ix_personas_key_id_seq", table_name="personas")
    op.drop_table("personas")
