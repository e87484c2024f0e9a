"""SQLite: every new revision of a task is written to ``task_change_log`` as it commits
(a trigger; the table exists on PostgreSQL too, unused), so an API process can learn
which tasks changed by reading the rows after the last one it saw, once
``PRAGMA data_version`` says another connection committed. Its
polls then answer unchanged tasks from their kept renderings with no database read, as
PostgreSQL's notices allow (0008). Rows are pruned after a minute by the listener.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # The table exists on every database (one schema); only SQLite's trigger fills it.
    op.create_table(
        "task_change_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("logged_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_change_log")),
        sqlite_autoincrement=True,  # ids never reused once pruned: readers go by id
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        """
        CREATE TRIGGER tasks_revision_log AFTER UPDATE ON tasks
        FOR EACH ROW WHEN OLD.revision IS NOT NEW.revision
        BEGIN
            INSERT INTO task_change_log (task_id, revision, logged_at)
            VALUES (NEW.id, NEW.revision, julianday('now'));
        END
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS tasks_revision_log")
    op.drop_table("task_change_log")
