"""The reaper: every task ends, and every committed task reaches the queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from cadenza.domain.tasks import TaskStatus, utcnow
from cadenza.services.ports import TaskQueue, UnitOfWorkFactory
from cadenza.services.tasks import dispatch, settle_failure

log = logging.getLogger(__name__)

TIMED_OUT = "timed out"
#: A running task silent for this long (no heartbeat) has lost its worker.
STALLED_AFTER_S = 120.0


@dataclass(frozen=True)
class ReapReport:
    failed: int
    redispatched: int
    revived: int = 0


def reap(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    *,
    now: datetime | None = None,
    undispatched_after_s: float = 30,
    stalled_after_s: float = STALLED_AFTER_S,
) -> ReapReport:
    """Fail and refund tasks past their deadline; enqueue again tasks never dispatched
    and running tasks whose worker stopped beating (the worker counts the attempt and
    gives up on a poison task).

    Safe to run from several processes at once: each task is settled under its row lock,
    and the ledger refuses a second refund.
    """
    moment = now or utcnow()
    with uow() as u:
        expired = [t.id for t in u.tasks.find_expired(moment)]
        stranded = u.tasks.find_undispatched(moment - timedelta(seconds=undispatched_after_s))
        stalled = [t.id for t in u.tasks.find_stalled(moment - timedelta(seconds=stalled_after_s))]
    failed = 0
    for task_id in expired:
        try:
            if settle_failure(uow, task_id, TIMED_OUT, moment, only_if_expired=True):
                failed += 1
        except Exception:
            log.warning("could not time out task %s", task_id, exc_info=True)
    redispatched = 0
    for task in stranded:
        if task.id in expired:
            continue
        if dispatch(uow, queue, task):
            redispatched += 1
    revived = 0
    for task_id in stalled:
        if task_id in expired:
            continue
        try:
            if _revive(uow, queue, task_id, moment, stalled_after_s):
                revived += 1
        except Exception:
            log.warning("could not hand out stalled task %s again", task_id, exc_info=True)
    if failed or redispatched or revived:
        log.info(
            "reaper: %d timed out, %d dispatched again, %d revived after their worker died",
            failed,
            redispatched,
            revived,
        )
    return ReapReport(failed=failed, redispatched=redispatched, revived=revived)


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
        u.tasks.update(task)
        u.commit()
        route = task.route
    log.warning("task %s: its worker stopped beating; handing it out again", task_id)
    queue.enqueue(task_id, route=route)
    return True
