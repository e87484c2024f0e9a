"""Initial schema: keys, prices, ledger, tasks, clips.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cadenza.db.types import Money, UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ONCE_PER_TASK = "entry_type IN ('CONSUME', 'REFUND')"


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("credits_balance", Money(), nullable=False, server_default=sa.text("0")),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("credits_balance >= 0", name="ck_api_keys_balance_not_negative"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_key_prefix", "api_keys", ["key_prefix"])

    op.create_table(
        "prices",
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("price", Money(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("refund_on_failure", sa.Boolean(), nullable=False),
        sa.CheckConstraint("price >= 0", name="ck_prices_price_not_negative"),
        sa.PrimaryKeyConstraint("action", name="pk_prices"),
    )

    op.create_table(
        "ledger_entries",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("entry_type", sa.String(16), nullable=False),
        sa.Column("change_amount", Money(), nullable=False),
        sa.Column("balance_after", Money(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_ledger_entries_key_id_api_keys"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger_entries"),
        sa.UniqueConstraint("id", name="uq_ledger_entries_id"),
    )
    op.create_index("ix_ledger_entries_key_id_seq", "ledger_entries", ["key_id", "seq"])
    op.create_index(
        "uq_ledger_entries_task_id_entry_type",
        "ledger_entries",
        ["task_id", "entry_type"],
        unique=True,
        sqlite_where=sa.text(ONCE_PER_TASK),
        postgresql_where=sa.text(ONCE_PER_TASK),
    )

    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("price", Money(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("fail_reason", sa.Text(), nullable=False),
        sa.Column("submit_time", UTCDateTime(), nullable=False),
        sa.Column("start_time", UTCDateTime(), nullable=True),
        sa.Column("finish_time", UTCDateTime(), nullable=True),
        sa.Column("deadline", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dispatched", sa.Boolean(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("route", sa.String(200), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name="fk_tasks_key_id_api_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.UniqueConstraint("key_id", "idempotency_key", name="uq_tasks_key_id_idempotency_key"),
    )
    op.create_index("ix_tasks_key_id", "tasks", ["key_id"])
    op.create_index("ix_tasks_deadline", "tasks", ["deadline"])
    op.create_index("ix_tasks_key_id_status", "tasks", ["key_id", "status"])
    op.create_index("ix_tasks_status_dispatched", "tasks", ["status", "dispatched"])

    op.create_table(
        "clips",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("negative_tags", sa.Text(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("gpt_description_prompt", sa.Text(), nullable=False),
        sa.Column("lyrics", sa.Text(), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("major_model_version", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("audio_key", sa.Text(), nullable=True),
        sa.Column("image_key", sa.Text(), nullable=True),
        sa.Column("image_large_key", sa.Text(), nullable=True),
        sa.Column("video_key", sa.Text(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name="fk_clips_task_id_tasks"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name="fk_clips_key_id_api_keys"),
        sa.PrimaryKeyConstraint("seq", name="pk_clips"),
        sa.UniqueConstraint("id", name="uq_clips_id"),
    )
    op.create_index("ix_clips_task_id", "clips", ["task_id"])
    op.create_index("ix_clips_key_id", "clips", ["key_id"])


def downgrade() -> None:
    op.drop_table("clips")
    op.drop_table("tasks")
    op.drop_table("ledger_entries")
    op.drop_table("prices")
    op.drop_table("api_keys")
