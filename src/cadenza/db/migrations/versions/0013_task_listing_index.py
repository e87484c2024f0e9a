"""A key's tasks by submit time: ``/api/v1/tasks`` pages them newest first without
sorting every task of the key.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_tasks_key_id_submit_time", "tasks", ["key_id", "submit_time"])


def downgrade() -> None:
    op.drop_index("ix_tasks_key_id_submit_time", table_name="tasks")
