"""SQLite's WAL checkpoints, moved off the commit path.

By default SQLite checkpoints inside whichever commit makes the write-ahead log pass
1,000 pages: that commit copies the log into the database and syncs it while it still
holds the one write lock, and every submit behind it waits (tens of milliseconds, longer
while renders write their files to the same disk). An API process instead runs a
``PASSIVE`` checkpoint from a thread of its own every second: it takes no write lock,
so writers go on meanwhile, and the log stays short enough that the in-commit
checkpoint (raised to ``SAFETY_NET_PAGES``, for when no API process runs) never fires.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

#: ``wal_autocheckpoint`` of every connection while a checkpointer runs: only a log this
#: long (about 40 MB) is checkpointed inside a commit.
SAFETY_NET_PAGES = 10_000


class SqliteCheckpointer:
    """Checkpoints one SQLite database's write-ahead log every ``interval_s`` from a
    daemon thread, on a connection of its own."""

    def __init__(self, database_path: str, *, interval_s: float = 1.0) -> None:
        self._path = database_path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Checkpoints run, and those that copied every frame of the log.
        self.runs = 0
        self.complete = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cadenza-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._interval_s + 5)

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """One passive checkpoint: the log's frames and how many of them were copied."""
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        if not busy and frames == copied:
            self.complete += 1
        return int(frames), int(copied)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stop.wait(self._interval_s):
            try:
                if conn is None:
                    conn = sqlite3.connect(self._path, isolation_level=None, timeout=1.0)
                self.checkpoint(conn)
            except sqlite3.Error as exc:
                # The next pass tries again (a commit checkpoints past the safety net).
                log.warning("WAL checkpoint failed: %s", exc)
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()
