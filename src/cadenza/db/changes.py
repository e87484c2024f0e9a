"""Which tasks changed, as their changes commit: the ``TaskChanges`` port.

On PostgreSQL every new revision of a task is announced on a channel (migration 0008); a
thread of each API process listens there on a connection of its own. While it listens,
a kept rendering of a task is current until its task's next notice, so a poll needs no
database round trip. Whenever listening stops (the connection dropped, the server
restarted), notices may have been missed: the listener says so (``on_reset``) before it
listens again, and meanwhile is not ``live``. SQLite has no such channel
(``NoTaskChanges``: never live, polls read the revision).
"""

from __future__ import annotations

import logging
import threading
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
