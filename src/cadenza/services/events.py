"""Reading a task's events, and waiting for its next ones.

The events themselves are written by the repositories with each change (see
``domain.events``). A reader keeps the ``seq`` of the last event it saw as its cursor.

Waiting needs no busy polling where the database announces changes (PostgreSQL: every
change that makes an event also counts the task's revision up, which is announced as it
commits; see ``db.changes``): a waiter sleeps until its task's notice. Where nothing is
announced (SQLite, or while the listener reconnects) it reads the task's latest ``seq``
every ``poll_s``: one indexed read.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable

from cadenza.domain.billing import ApiKey
from cadenza.domain.errors import NotFound
from cadenza.domain.events import TaskEvent
from cadenza.services.ports import TaskChanges, UnitOfWorkFactory

#: Most events one read returns; a reader behind by more reads again from its cursor.
PAGE = 200
#: Pause between two reads of a task's latest event where no notice comes (seconds).
POLL_S = 0.25


def events_after(
    uow: UnitOfWorkFactory, key: ApiKey, task_id: str, after_seq: int = 0, limit: int = PAGE
) -> list[TaskEvent]:
    """The key's task's events after the cursor, oldest first; another key's task is the
    same 404 as a missing one."""
    with uow(read_only=True) as u:
        task = u.tasks.get(task_id)
        if task is None or task.key_id != key.id:
            raise NotFound("task not found")
        return u.task_events.after(task_id, after_seq, min(max(1, limit), PAGE))


class _Waiter:
    __slots__ = ("event", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self.loop.call_soon_threadsafe(self.event.set)


class TaskEventWaiter:
    """Lets coroutines wait for a task's next events. Feed it the ``TaskChanges`` notices
    (``changed``, ``reset``; thread-safe); without them it polls."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        changes: TaskChanges | None = None,
        *,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow
        self._changes = changes
        self._poll_s = poll_s
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: dict[str, set[_Waiter]] = {}

    def changed(self, task_id: str, revision: int) -> None:
        """A notice: ``task_id`` changed (may have new events)."""
        with self._lock:
            waiters = list(self._waiting.get(task_id, ()))
        for waiter in waiters:
            waiter.wake()

    def reset(self) -> None:
        """Notices may have been missed: every waiter looks again."""
        with self._lock:
            waiters = [w for found in self._waiting.values() for w in found]
        for waiter in waiters:
            waiter.wake()

    @property
    def waiting(self) -> int:
        with self._lock:
            return sum(len(found) for found in self._waiting.values())

    async def wait_events(
        self, task_id: str, after_seq: int, timeout_s: float, *, limit: int = PAGE
    ) -> list[TaskEvent]:
        """The task's events after ``after_seq`` as soon as there are any, or ``[]`` when
        ``timeout_s`` passes first. The caller checks the task is its key's (``events_after``)."""
        deadline = self._clock() + max(0.0, timeout_s)
        waiter = _Waiter(asyncio.get_running_loop())
        with self._lock:
            self._waiting.setdefault(task_id, set()).add(waiter)
        try:
            while True:
                # Registered before reading: a notice that comes during the read wakes
                # the wait below instead of being lost.
                waiter.event.clear()
                found = await asyncio.to_thread(self._read, task_id, after_seq, limit)
                if found:
                    return found
                left = deadline - self._clock()
                if left <= 0:
                    return []
                live = self._changes is not None and self._changes.live
                pause = left if live else min(left, self._poll_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(), pause)
        finally:
            with self._lock:
                found_set = self._waiting.get(task_id)
                if found_set is not None:
                    found_set.discard(waiter)
                    if not found_set:
                        del self._waiting[task_id]

    def _read(self, task_id: str, after_seq: int, limit: int) -> list[TaskEvent]:
        with self._uow(read_only=True) as u:
            return u.task_events.after(task_id, after_seq, limit)
