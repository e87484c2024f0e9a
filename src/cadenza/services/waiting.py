"""Waiting, bounded, for a task to finish: for routes that answer with a result when it is
quick and with a task id to poll when it is not.

It polls the database rather than listening for an event, so it sees tasks finished by any
worker process or machine, whatever the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cadenza.domain.tasks import Task
from cadenza.services.ports import UnitOfWorkFactory

#: First and longest pause between two reads of the task (seconds).
FIRST_POLL_S = 0.05
MAX_POLL_S = 0.5


def wait_for_task(
    uow: UnitOfWorkFactory,
    task_id: str,
    timeout_s: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Task | None:
    """The task once finished, or as it stands when ``timeout_s`` has passed; None if it
    does not exist. Polls quickly at first (most short tasks end within a second), then
    backs off so a long wait costs few queries."""
    deadline = clock() + max(0.0, timeout_s)
    pause = FIRST_POLL_S
    while True:
        with uow(read_only=True) as u:
            task = u.tasks.get(task_id)
        if task is None or task.status.finished:
            return task
        left = deadline - clock()
        if left <= 0:
            return task
        sleep(min(pause, left))
        pause = min(MAX_POLL_S, pause * 1.5)
