"""Tasks: where they came from (the dialect, the body as the client sent it, the trace
id it was answered with), so a dialect that hands the request back when a task is
retrieved (AceData's ``/suno/tasks``) can, and a task made in one dialect is told apart
in the other.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("origin", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("origin")
