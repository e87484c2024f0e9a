"""wait_for_task: returns as soon as the task ends, and never later than its bound."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cadenza.domain.tasks import Task, TaskStatus
from cadenza.services.waiting import MAX_POLL_S, wait_for_task


class _Tasks:
    def __init__(self, statuses: list[TaskStatus]) -> None:
        self.statuses = statuses
        self.reads = 0

    def get(self, task_id: str) -> Task | None:
        if task_id != "t1":
            return None
        status = self.statuses[min(self.reads, len(self.statuses) - 1)]
        self.reads += 1
        return Task(id="t1", key_id="k", action="MP4", params={}, price=Decimal(1), status=status)


class _Uow:
    def __init__(self, tasks: _Tasks) -> None:
        self.tasks = tasks

    def __enter__(self) -> _Uow:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def _factory(tasks: _Tasks) -> Any:
    return lambda read_only=False: _Uow(tasks)


def test_returns_the_task_once_it_has_finished() -> None:
    tasks = _Tasks([TaskStatus.QUEUED, TaskStatus.IN_PROGRESS, TaskStatus.SUCCESS])
    clock = _Clock()
    task = wait_for_task(_factory(tasks), "t1", 10.0, sleep=clock.sleep, clock=clock)
    assert task is not None and task.status is TaskStatus.SUCCESS
    assert tasks.reads == 3 and len(clock.pauses) == 2


def test_gives_up_at_the_bound_with_the_task_as_it_stands() -> None:
    tasks = _Tasks([TaskStatus.IN_PROGRESS])
    clock = _Clock()
    task = wait_for_task(_factory(tasks), "t1", 5.0, sleep=clock.sleep, clock=clock)
    assert task is not None and task.status is TaskStatus.IN_PROGRESS
    assert clock.now == 5.0
    assert max(clock.pauses) <= MAX_POLL_S
    assert clock.pauses[0] < clock.pauses[3]  # backs off


def test_a_missing_task_or_no_time_answers_at_once() -> None:
    clock = _Clock()
    tasks = _Tasks([TaskStatus.QUEUED])
    assert wait_for_task(_factory(tasks), "nope", 5.0, sleep=clock.sleep, clock=clock) is None
    task = wait_for_task(_factory(tasks), "t1", 0.0, sleep=clock.sleep, clock=clock)
    assert task is not None and task.status is TaskStatus.QUEUED and clock.pauses == []
