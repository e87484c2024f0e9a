"""PostgreSQL: every new revision of a task is announced on the ``cadenza_task_changes``
channel as it commits (``<task id> <revision>``), so API processes listening there can
answer polls of unchanged tasks without a database round trip. SQLite has no such
channel: its polls read the revision instead.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION cadenza_task_changed() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('cadenza_task_changes', NEW.id || ' ' || NEW.revision);
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        """
        CREATE TRIGGER tasks_revision_notice AFTER UPDATE ON tasks
        FOR EACH ROW WHEN (OLD.revision IS DISTINCT FROM NEW.revision)
        EXECUTE FUNCTION cadenza_task_changed()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS tasks_revision_notice ON tasks")
    op.execute("DROP FUNCTION IF EXISTS cadenza_task_changed()")
