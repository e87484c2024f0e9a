"""Task bodies for the queue contract: top level, so spawned children and Celery can import.

Each run appends one line (its pid) to ``<dir>/<task_id>.runs``; ``<dir>`` comes from the
environment because a queue passes nothing but the task id.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

MARKER_ENV = "CADENZA_TEST_MARKER_DIR"


def _dir() -> Path:
    return Path(os.environ[MARKER_ENV])


def write_marker(task_id: str) -> None:
    """``crash-*``: first run parks (the test kills it), later runs finish.
    ``die-*``: kills its own process every time. ``slow-*``: takes a moment.
    ``fail-*``: raises. Anything else: finishes at once.
    """
    directory = _dir()
    if task_id.startswith("die-"):
        with (directory / f"{task_id}.attempts").open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    if task_id.startswith("crash-"):
        attempts = directory / f"{task_id}.attempts"
        with attempts.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        if len(attempts.read_text().split()) == 1:
            (directory / f"{task_id}.pid").write_text(str(os.getpid()))
            time.sleep(60)
    elif task_id.startswith("slow-"):
        time.sleep(0.5)
    elif task_id.startswith("fail-"):
        raise RuntimeError(f"task {task_id} failed on purpose")
    with (directory / f"{task_id}.runs").open("a") as fh:
        fh.write(f"{os.getpid()}\n")


def warm_marker() -> None:
    """A worker's start-up: records its pid after a moment's work (as an engine's warm-up
    takes seconds, the pool starts a process of its own for each call)."""
    time.sleep(0.3)
    (_dir() / f"warm-{os.getpid()}").write_text("")


def failing_warm() -> None:
    raise RuntimeError("start-up failed on purpose")
