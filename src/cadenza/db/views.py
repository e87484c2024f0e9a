"""Lookups for the hottest routes, on the cheapest path each database allows.

A request's key is one indexed read; a poll is one too (the task joined to its clips, a
consistent snapshot by itself). They run as precompiled statements on a DBAPI connection
(see ``compiled``). On SQLite the reads are local and take tens of microseconds, less than
a hop to a worker thread, so they are marked ``inline`` and each thread keeps one
connection of its own with a short busy timeout: under WAL a reader waits only in rare
moments (a checkpoint resetting the log), and then never long. On PostgreSQL each lookup
borrows a connection and runs on a worker thread like any other network call; given a
``reads`` engine of autocommit connections without a pre-ping, a poll is one round trip
instead of five (ping, BEGIN, two SELECTs, ROLLBACK), and a connection found dead is
dropped and the read tried once more on a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import Label

from cadenza.db import tables as t
from cadenza.db.compiled import CompiledSelect
from cadenza.db.engine import is_nul_text_error
from cadenza.db.repositories import clip_from_row, key_from_row, task_from_row
from cadenza.db.uow import uow_factory
from cadenza.domain.billing import ApiKey
from cadenza.domain.errors import UpstreamUnavailable
from cadenza.domain.tasks import TaskView
from cadenza.services.views import UowViews

#: How long an inline SQLite read waits for a lock before the poll fails (milliseconds).
INLINE_BUSY_TIMEOUT_MS = 200


_TASK, _CLIP = "task__", "clip__"
#: A poll never needs the task's request (``params``, the largest column, and the body the
#: client sent, in ``origin``): not read.
_TASK_COLUMNS = [column for column in t.tasks.c if column.key not in ("params", "origin")]
_TASK_NAMES = [str(column.key) for column in _TASK_COLUMNS]
_CLIP_NAMES = [str(column.key) for column in t.clips.c]


def _labelled(prefix: str, columns: Iterable[Any]) -> list[Label[Any]]:
    return [column.label(prefix + column.key) for column in columns]


class SqlViews:
    """``Views`` on SQLite or PostgreSQL; ``reads`` (PostgreSQL) serves the lookups."""

    def __init__(self, engine: Engine, reads: Engine | None = None) -> None:
        dialect = engine.dialect
        self._engine = engine
        self._reads = reads
        self._sqlite = dialect.name == "sqlite"
        self.inline = self._sqlite
        # The driver's own errors, and SQLAlchemy's wrapping of them (pool checkouts).
        self._errors: tuple[type[Exception], ...] = (dialect.loaded_dbapi.Error, DBAPIError)
        self._key = CompiledSelect(
            select(t.api_keys).where(t.api_keys.c.key_hash == bindparam("key_hash")), dialect
        )
        self._task = CompiledSelect(
            select(*_labelled(_TASK, _TASK_COLUMNS), *_labelled(_CLIP, t.clips.c))
            .select_from(t.tasks.outerjoin(t.clips, t.clips.c.task_id == t.tasks.c.id))
            .where(t.tasks.c.id == bindparam("task_id"), t.tasks.c.key_id == bindparam("key_id"))
            .order_by(t.clips.c.seq),
            dialect,
        )
        self._revision = CompiledSelect(
            select(t.tasks.c.revision).where(
                t.tasks.c.id == bindparam("task_id"), t.tasks.c.key_id == bindparam("key_id")
            ),
            dialect,
        )
        self._local = threading.local()
        # Many tasks at once: two IN queries through SQLAlchemy beat two lookups per task.
        self._batch = UowViews(uow_factory(engine))

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        rows = self._read(self._key, key_hash=key_hash)
        return key_from_row(rows[0]) if rows else None

    def revisions(self, task_ids: Sequence[str], key_id: str) -> dict[str, int]:
        wanted = list(dict.fromkeys(task_ids))
        if len(wanted) != 1:
            return self._batch.revisions(wanted, key_id)
        rows = self._read(self._revision, task_id=wanted[0], key_id=key_id, positional=True)
        return {wanted[0]: int(rows[0][0])} if rows else {}

    def tasks(self, task_ids: Sequence[str], key_id: str) -> list[TaskView]:
        wanted = list(dict.fromkeys(task_ids))
        if len(wanted) > 1:
            return self._batch.tasks(wanted, key_id)
        views: list[TaskView] = []
        width = len(_TASK_NAMES)
        for task_id in wanted:
            rows = self._read(self._task, task_id=task_id, key_id=key_id, positional=True)
            if rows:
                # The task's columns (the same on every row), then the clip's (absent when
                # the task has none).
                convert = self._task.convert
                first = convert(rows[0], 0, width)
                task = task_from_row(
                    {**dict(zip(_TASK_NAMES, first[:width], strict=True)), "params": {}}
                )
                clips = [
                    clip_from_row(dict(zip(_CLIP_NAMES, convert(row, width)[width:], strict=True)))
                    for row in rows
                    if row[width] is not None
                ]
                views.append(TaskView(task, clips))
        return views

    def _read(self, query: CompiledSelect, *, positional: bool = False, **values: Any) -> Any:
        """One statement, a consistent snapshot by itself, so no transaction around it;
        rows as dicts, or as unconverted lists in column order when ``positional``."""
        try:
            if self._sqlite:
                cursor = self._sqlite_cursor()
                try:
                    if positional:
                        return query.raw(cursor, **values)
                    return query.rows(cursor, **values)
                except BaseException:
                    self._drop_sqlite_connection()  # a broken connection is not reused
                    raise
            if self._reads is None:
                connection = self._engine.raw_connection()
                try:
                    return _rows(connection, query, values, positional)
                finally:
                    connection.close()  # back to the pool, which rolls back
            for attempt in range(2):
                connection = self._reads.raw_connection()
                try:
                    return _rows(connection, query, values, positional)
                except self._errors as exc:
                    # Without a pre-ping a connection the server dropped fails here. A server
                    # that dropped one (a restart) dropped them all: the pool starts afresh
                    # and the read runs once more.
                    dropped = self._reads.dialect.is_disconnect(
                        cast(Any, exc), connection.dbapi_connection, None
                    )
                    connection.invalidate()
                    if attempt or not dropped:
                        raise
                    self._reads.dispose()
                finally:
                    connection.close()
            raise AssertionError("unreachable")
        except self._errors as exc:
            if is_nul_text_error(exc):
                return []  # PostgreSQL stores no NUL: nothing can match
            raise UpstreamUnavailable("database unavailable") from exc

    def _sqlite_cursor(self) -> Any:
        """This thread's cursor on its own connection, reused by every read of the thread
        (each read fetches all its rows before the next one runs)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is not None:
            return cursor
        # Opened by the engine (so its connect-time settings apply), then owned here:
        # detached from the pool, it is closed when dropped.
        connection = self._engine.raw_connection()
        connection.detach()
        driver = connection.dbapi_connection
        assert driver is not None
        cursor = driver.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")
        self._local.connection = connection
        self._local.cursor = cursor
        return cursor

    def _drop_sqlite_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.cursor = None
        if connection is not None:
            connection.close()


def _rows(connection: Any, query: CompiledSelect, values: dict[str, Any], positional: bool) -> Any:
    cursor = connection.cursor()
    try:
        return query.raw(cursor, **values) if positional else query.rows(cursor, **values)
    finally:
        cursor.close()
