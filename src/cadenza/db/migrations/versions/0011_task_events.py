"""Task events: what a client can see change in each task (status, progress, clips), in
order, written in the transaction of each change, for streams, callbacks and relays.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cadenza.db.types import UTCDateTime

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "task_events",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name="fk_task_events_task_id_tasks"),
        sa.PrimaryKeyConstraint("seq", name="pk_task_events"),
    )
    op.create_index("ix_task_events_task_id_seq", "task_events", ["task_id", "seq"])
    op.create_index("ix_task_events_created_at", "task_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_task_events_created_at", table_name="task_events")
    op.drop_index("ix_task_events_task_id_seq", table_name="task_events")
    op.drop_table("task_events")
