"""The reaper: every task ends, and every committed task reaches a queue that runs it."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from cadenza.domain.tasks import ClipStatus, TaskStatus, utcnow
from cadenza.services.ports import MediaStorage, TaskQueue, UnitOfWorkFactory
from cadenza.services.tasks import delete_prefixes, dispatch, input_folders, settle_failure

log = logging.getLogger(__name__)

TIMED_OUT = "timed out"
#: A running task silent for this long (no heartbeat) has lost its worker.
STALLED_AFTER_S = 120.0


@dataclass(frozen=True)
class ReapReport:
    failed: int
    redispatched: int
    revived: int = 0
    #: Handed out again because the in-process queue holding them is gone.
    recovered: int = 0
    #: Events deleted, of tasks finished longer ago than the retention period.
    pruned: int = 0


def reap(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    *,
    now: datetime | None = None,
    undispatched_after_s: float = 30,
    stalled_after_s: float = STALLED_AFTER_S,
    event_retention_days: float | None = None,
    storage: MediaStorage | None = None,
) -> ReapReport:
    """Fail and refund tasks past their deadline; enqueue again tasks never dispatched,
    tasks held by an in-process queue that is gone (its server stopped or died: nothing
    will run them; see ``TaskQueue.gone``), and running tasks whose worker stopped beating
    (the worker counts the attempt and gives up on a poison task).

    With ``event_retention_days``, also delete the events of tasks finished longer ago.
    With ``storage``, the inputs fetched for a task it times out are deleted too.

    Safe to run from several processes at once: each task is settled under its row lock,
    and the ledger refuses a second refund.
    """
    moment = now or utcnow()
    with uow() as u:
        overdue = {t.id: t for t in u.tasks.find_expired(moment)}
        expired = list(overdue)
        stranded = u.tasks.find_undispatched(moment - timedelta(seconds=undispatched_after_s))
        stalled = [t.id for t in u.tasks.find_stalled(moment - timedelta(seconds=stalled_after_s))]
        holders = u.tasks.queue_instances()
    holders.discard(queue.instance or "")
    gone = queue.gone(holders) if holders else set()
    orphaned: list[str] = []
    if gone:
        with uow() as u:
            orphaned = [t.id for t in u.tasks.find_held_by(gone)]
    failed = 0
    for task_id in expired:
        try:
            if settle_failure(uow, task_id, TIMED_OUT, moment, only_if_expired=True):
                failed += 1
                if storage is not None:
                    delete_prefixes(storage, input_folders(overdue[task_id]))
        except Exception:
            log.warning("could not time out task %s", task_id, exc_info=True)
    redispatched = 0
    for task in stranded:
        if task.id in expired:
            continue
        if dispatch(uow, queue, task):
            redispatched += 1
    recovered = 0
    for task_id in orphaned:
        if task_id in expired:
            continue
        try:
            if _recover(uow, queue, task_id, gone, moment):
                recovered += 1
        except Exception:
            log.warning("could not hand out task %s of a dead queue", task_id, exc_info=True)
    handed = set(orphaned)
    revived = 0
    for task_id in stalled:
        if task_id in expired or task_id in handed:
            continue
        try:
            if _revive(uow, queue, task_id, moment, stalled_after_s):
                revived += 1
        except Exception:
            log.warning("could not hand out stalled task %s again", task_id, exc_info=True)
    pruned = 0
    if event_retention_days is not None:
        try:
            pruned = prune_events(uow, moment - timedelta(days=event_retention_days))
        except Exception:
            log.warning("could not prune task events", exc_info=True)
    if failed or redispatched or revived or recovered:
        log.info(
            "reaper: %d timed out, %d dispatched again, %d revived after their worker died,"
            " %d recovered from a dead queue",
            failed,
            redispatched,
            revived,
            recovered,
        )
    return ReapReport(
        failed=failed,
        redispatched=redispatched,
        revived=revived,
        recovered=recovered,
        pruned=pruned,
    )


def prune_events(uow: UnitOfWorkFactory, finished_before: datetime, *, batch: int = 5000) -> int:
    """Delete the events of tasks finished before ``finished_before``, a batch per
    transaction (so writers are never held long); how many went. Once a task has ended its
    events have been read by whoever streamed them, and its rows hold the outcome."""
    total = 0
    while True:
        with uow() as u:
            gone = u.task_events.prune(finished_before, batch)
            u.commit()
        total += gone
        if gone < batch:
            return total


def _recover(
    uow: UnitOfWorkFactory, queue: TaskQueue, task_id: str, gone: Collection[str], now: datetime
) -> bool:
    """Hand a task of a dead in-process queue to this one, at once: it waits here, QUEUED
    (a running one goes back to QUEUED; its attempt is counted already, so a poison task
    still ends). Recorded as held here first, under the row lock, so two reapers never
    both take it."""
    holder = queue.instance
    with uow() as u:
        task = u.tasks.get(task_id, for_update=True)
        if task is None or task.status.finished or task.queue_instance not in gone:
            return False
        if task.status is TaskStatus.IN_PROGRESS:
            task.move_to(TaskStatus.QUEUED, now)
            for clip in u.clips.list_for_tasks([task.id]):
                if clip.status is ClipStatus.STREAMING:
                    clip.status = ClipStatus.QUEUED
                    u.clips.update(clip)
        lost = task.queue_instance
        task.queue_instance = holder
        task.dispatched = True
        u.tasks.update(task)
        u.commit()
        route = task.route
    try:
        queue.enqueue(task_id, route=route)
    except Exception:
        log.warning("task %s of a dead queue not enqueued; retried later", task_id, exc_info=True)
        _undispatch(uow, task_id, holder)
        return False
    log.warning("task %s: its queue %s is gone; handed out again", task_id, lost)
    return True


def _undispatch(uow: UnitOfWorkFactory, task_id: str, holder: str | None) -> None:
    """Leave the task to the next pass's undispatched tasks."""
    with uow() as u:
        task = u.tasks.get(task_id, for_update=True)
        if task is None or task.status.finished or task.queue_instance != holder:
            return
        task.dispatched = False
        task.queue_instance = None
        u.tasks.update(task)
        u.commit()


def _revive(
    uow: UnitOfWorkFactory, queue: TaskQueue, task_id: str, now: datetime, stalled_after_s: float
) -> bool:
    """Enqueue a stalled task again. Its heartbeat is reset first, so the next rounds wait
    a whole silence period for a worker to take it before trying once more."""
    with uow() as u:
        task = u.tasks.get(task_id, for_update=True)
        if task is None:
            return False
        last_sign = task.heartbeat_at or task.start_time
        if (
            task.status is not TaskStatus.IN_PROGRESS
            or last_sign is None
            or last_sign >= now - timedelta(seconds=stalled_after_s)
        ):
            return False
        task.heartbeat_at = now
        task.queue_instance = queue.instance
        u.tasks.update(task)
        u.commit()
        route = task.route
    log.warning("task %s: its worker stopped beating; handing it out again", task_id)
    queue.enqueue(task_id, route=route)
    return True
