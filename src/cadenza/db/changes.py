"""Which tasks changed, as their changes commit: the ``TaskChanges`` port.

On PostgreSQL every new revision of a task is announced on a channel (migration 0008); a
thread of each API process listens there on a connection of its own. While it listens,
a kept rendering of a task is current until its task's next notice, so a poll needs no
database round trip. Whenever listening stops (the connection dropped, the server
restarted), notices may have been missed: the listener says so (``on_reset``) before it
listens again, and meanwhile is not ``live``.

SQLite has no channel, but a trigger logs each new revision (migration 0015) and
``PRAGMA data_version`` tells a connection, in microseconds and without touching a table,
that another connection committed: ``SqliteTaskChanges`` checks it every few
milliseconds from a thread and reads the log only then. ``NoTaskChanges`` is never live:
polls read the revision.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import make_url

CHANNEL = "cadenza_task_changes"

log = logging.getLogger(__name__)


class NoTaskChanges:
    """No notices: polls check each task's revision in the database."""

    live = False

    def start(self, on_change: Callable[[str, int], None], on_reset: Callable[[], None]) -> None:
        """Nothing to listen to."""

    def stop(self) -> None:
        """Nothing to stop."""


class PostgresTaskChanges:
    """``LISTEN`` on the notices channel from a daemon thread, reconnecting with backoff."""

    def __init__(self, database_url: str, *, poll_s: float = 1.0, max_backoff_s: float = 5.0):
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = False

    @property
    def live(self) -> bool:
        return self._live

    def start(self, on_change: Callable[[str, int], None], on_reset: Callable[[], None]) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(on_change, on_reset), name="cadenza-task-changes", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._live = False
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._poll_s + 2)

    def _run(self, on_change: Callable[[str, int], None], on_reset: Callable[[], None]) -> None:
        import psycopg

        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Notices sent before this moment were not heard: start afresh.
                    on_reset()
                    self._live = True
                    backoff = 0.1
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=self._poll_s):
                            task_id, _, revision = notice.payload.partition(" ")
                            try:
                                on_change(task_id, int(revision))
                            except ValueError:
                                log.warning("unreadable task change notice %r", notice.payload)
            except Exception as exc:
                log.warning("task change notices interrupted: %s", type(exc).__name__)
            finally:
                if self._live:
                    self._live = False
                    on_reset()
            if self._stop.wait(backoff):
                return
            backoff = min(self._max_backoff_s, backoff * 2)


class SqliteTaskChanges:
    """Follows ``task_change_log`` from a daemon thread on a connection of its own.

    Every ``poll_s`` it asks ``PRAGMA data_version``; when another connection has
    committed since, it reads the log rows after the last one it saw. A gap in their ids
    means rows were pruned before they were read (the thread was held up for longer than
    ``keep_s``): it says so (``on_reset``). It prunes rows older than ``keep_s`` itself,
    at most every ``prune_every_s``.
    """

    def __init__(
        self,
        database_path: str,
        *,
        poll_s: float = 0.005,
        keep_s: float = 60.0,
        prune_every_s: float = 15.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._path = database_path
        self._poll_s = poll_s
        self._keep_days = keep_s / 86400.0
        self._prune_every_s = prune_every_s
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = False

    @property
    def live(self) -> bool:
        return self._live

    def start(self, on_change: Callable[[str, int], None], on_reset: Callable[[], None]) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(on_change, on_reset), name="cadenza-task-changes", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._live = False
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._poll_s + 2)

    def _run(self, on_change: Callable[[str, int], None], on_reset: Callable[[], None]) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            conn: sqlite3.Connection | None = None
            try:
                conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 200")
                self._follow(conn, on_change, on_reset)
                backoff = 0.1
            except Exception as exc:
                log.warning("task change log interrupted: %s", type(exc).__name__)
            finally:
                if conn is not None:
                    conn.close()
                if self._live:
                    self._live = False
                    on_reset()
            if self._stop.wait(backoff):
                return
            backoff = min(self._max_backoff_s, backoff * 2)

    def _follow(
        self,
        conn: sqlite3.Connection,
        on_change: Callable[[str, int], None],
        on_reset: Callable[[], None],
    ) -> None:
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        (last,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM task_change_log").fetchone()
        # Changes committed before this moment were not followed: start afresh.
        on_reset()
        self._live = True
        pruned_at = 0.0
        while not self._stop.wait(self._poll_s):
            (now_version,) = conn.execute("PRAGMA data_version").fetchone()
            if now_version == version:
                continue
            version = now_version
            rows = conn.execute(
                "SELECT id, task_id, revision FROM task_change_log WHERE id > ? ORDER BY id",
                (last,),
            ).fetchall()
            if rows and rows[0][0] > last + 1:
                # Pruned unread. (A rolled-back insert leaves no gap: SQLite's
                # AUTOINCREMENT counter rolls back with it, and writers take turns.)
                on_reset()
            for row_id, task_id, revision in rows:
                on_change(str(task_id), int(revision))
                last = int(row_id)
            if time.monotonic() - pruned_at >= self._prune_every_s:
                pruned_at = time.monotonic()
                self._prune(conn)

    def _prune(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(
                "DELETE FROM task_change_log WHERE logged_at < julianday('now') - ?",
                (self._keep_days,),
            )
        except sqlite3.OperationalError as exc:  # busy: the next pass prunes
            log.debug("task change log not pruned: %s", exc)
