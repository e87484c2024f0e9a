"""Runs each task in the caller's thread, at once.

For actions that take milliseconds (lyrics): queued behind renders they would wait
minutes for a worker. The task is committed before it runs, so if the process dies
mid-run the reaper finds it undispatched and hands it to the regular queue.
"""

from __future__ import annotations

from collections.abc import Callable, Collection


class InlineQueue:
    def __init__(self, run: Callable[[str], None]) -> None:
        self._run = run

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        """Runs the task now; ``route`` is ignored (this process is the worker)."""
        self._run(task_id)

    def start(self) -> None:
        """Nothing to start: there is no pool."""

    def stop(self) -> None:
        """Nothing to stop: tasks end before ``enqueue`` returns."""

    @property
    def instance(self) -> None:
        """None: a task has ended by the time ``enqueue`` returns, so none is held here."""
        return None

    def gone(self, instances: Collection[str]) -> set[str]:
        """Nothing to tell: this queue holds no task."""
        return set()
