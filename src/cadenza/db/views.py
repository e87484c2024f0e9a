"""Lookups for the hottest routes, on the cheapest path each database allows.

A request's key is one indexed read; a poll is two (the task, then its clips) in one read
transaction. They run as precompiled statements on a DBAPI connection (see ``compiled``).
On SQLite the reads are local and take tens of microseconds, less than a hop to a worker
thread, so they are marked ``inline`` and each thread keeps one connection of its own with
a short busy timeout: under WAL a reader waits only in rare moments (a checkpoint
resetting the log), and then never long. On PostgreSQL each lookup borrows a pooled
connection and runs on a worker thread like any other network call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import DBAPIError

from cadenza.db import tables as t
from cadenza.db.compiled import CompiledSelect
from cadenza.db.repositories import clip_from_row, key_from_row, task_from_row
from cadenza.db.uow import uow_factory
from cadenza.domain.billing import ApiKey
from cadenza.domain.errors import UpstreamUnavailable
from cadenza.domain.tasks import TaskView
from cadenza.services.views import UowViews

#: How long an inline SQLite read waits for a lock before the poll fails (milliseconds).
INLINE_BUSY_TIMEOUT_MS = 200


class SqlViews:
    """``Views`` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        self._engine = engine
        self._sqlite = dialect.name == "sqlite"
        self.inline = self._sqlite
        # The driver's own errors, and SQLAlchemy's wrapping of them (pool checkouts).
        self._errors: tuple[type[Exception], ...] = (dialect.loaded_dbapi.Error, DBAPIError)
        self._key = CompiledSelect(
            select(t.api_keys).where(t.api_keys.c.key_hash == bindparam("key_hash")), dialect
        )
        self._task = CompiledSelect(
            select(t.tasks).where(
                t.tasks.c.id == bindparam("task_id"), t.tasks.c.key_id == bindparam("key_id")
            ),
            dialect,
        )
        self._clips = CompiledSelect(
            select(t.clips)
            .where(t.clips.c.task_id == bindparam("task_id"))
            .order_by(t.clips.c.seq),
            dialect,
        )
        self._local = threading.local()
        # Many tasks at once: two IN queries through SQLAlchemy beat two lookups per task.
        self._batch = UowViews(uow_factory(engine))

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        try:
            with self._cursor() as cursor:
                rows = self._key.rows(cursor, key_hash=key_hash)
        except self._errors as exc:
            raise UpstreamUnavailable("database unavailable") from exc
        return key_from_row(rows[0]) if rows else None

    def tasks(self, task_ids: Sequence[str], key_id: str) -> list[TaskView]:
        wanted = list(dict.fromkeys(task_ids))
        if len(wanted) > 1:
            return self._batch.tasks(wanted, key_id)
        views: list[TaskView] = []
        try:
            with self._cursor() as cursor:
                for task_id in wanted:
                    rows = self._task.rows(cursor, task_id=task_id, key_id=key_id)
                    if rows:
                        clips = self._clips.rows(cursor, task_id=task_id)
                        views.append(
                            TaskView(task_from_row(rows[0]), [clip_from_row(c) for c in clips])
                        )
        except self._errors as exc:
            raise UpstreamUnavailable("database unavailable") from exc
        return views

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor inside one read transaction, ended (rolled back) afterwards."""
        if not self._sqlite:
            connection = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    yield cursor
                finally:
                    cursor.close()
            finally:
                connection.close()  # back to the pool, which rolls back
            return
        connection = self._sqlite_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute("BEGIN")
                yield cursor
            finally:
                cursor.close()
                connection.rollback()
        except BaseException:
            self._local.connection = None  # a broken connection is not reused
            connection.close()
            raise

    def _sqlite_connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # Opened by the engine (so its connect-time settings apply), then owned here:
            # detached from the pool, it is closed when dropped.
            connection = self._engine.raw_connection()
            connection.detach()
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")
            cursor.close()
            self._local.connection = connection
        return connection
