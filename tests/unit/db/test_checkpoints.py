"""SQLite's log is checkpointed by a thread of the API process, not inside commits."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, text

from cadenza.db import create_engine_for
from cadenza.db.checkpoints import SAFETY_NET_PAGES, SqliteCheckpointer


def _write(path: Path, rows: int) -> Engine:
    """Writes ``rows`` rows; the engine's pooled connection stays open (the last one to
    close would checkpoint the log itself)."""
    engine = create_engine_for(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (x TEXT)"))
        for _ in range(rows):
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 2000})
    return engine


def test_connections_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    engine.dispose()
    assert pages == SAFETY_NET_PAGES


def test_a_passive_checkpoint_copies_the_whole_log(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    # ~4 MB: past SQLite's default of 1,000 pages, so only the safety net kept the commit
    # from checkpointing it.
    engine = _write(path, 2000)
    checkpointer = SqliteCheckpointer(str(path))
    conn = sqlite3.connect(path, isolation_level=None)
    frames, copied = checkpointer.checkpoint(conn)
    assert frames > 1000 and copied == frames
    assert checkpointer.complete == 1
    conn.close()
    engine.dispose()


def test_the_thread_checkpoints_until_stopped(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    engine = _write(path, 10)
    checkpointer = SqliteCheckpointer(str(path), interval_s=0.02)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        while checkpointer.runs < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        checkpointer.stop()
        engine.dispose()
    runs = checkpointer.runs
    assert runs >= 3
    time.sleep(0.1)
    assert checkpointer.runs == runs  # stopped
