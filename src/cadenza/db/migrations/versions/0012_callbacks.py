"""Callbacks: a task's callback URL (and the dialect that renders its body), a secret per
key that signs its callbacks (made for the keys that exist), and the outbox of deliveries,
written in the transaction that finishes a task and sent by the API processes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

from cadenza.db.types import UTCDateTime

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("callback_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("callback_dialect", sa.String(32), nullable=True))

    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("callback_secret", sa.String(64), nullable=True))
    keys = sa.table("api_keys", sa.column("id", sa.String), sa.column("callback_secret", sa.String))
    bind = op.get_bind()
    missing = bind.execute(sa.select(keys.c.id).where(keys.c.callback_secret.is_(None)))
    for key_id in [row[0] for row in missing]:
        bind.execute(
            keys.update()
            .where(keys.c.id == key_id)
            .values(callback_secret=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("callback_secret", existing_type=sa.String(64), nullable=False)

    op.create_table(
        "callback_deliveries",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("dialect", sa.String(32), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_callback_deliveries_task_id_tasks"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_callback_deliveries"),
        sa.UniqueConstraint("event_id", name="uq_callback_deliveries_event_id"),
    )
    op.create_index("ix_callback_deliveries_task_id", "callback_deliveries", ["task_id"])
    op.create_index(
        "ix_callback_deliveries_status_next_attempt_at",
        "callback_deliveries",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_callback_deliveries_status_next_attempt_at", table_name="callback_deliveries")
    op.drop_index("ix_callback_deliveries_task_id", table_name="callback_deliveries")
    op.drop_table("callback_deliveries")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("callback_secret")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("callback_dialect")
        batch.drop_column("callback_url")
