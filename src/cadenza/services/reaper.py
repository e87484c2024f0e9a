"""The reaper: every task ends, and every committed task reaches the queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from cadenza.domain.tasks import utcnow
from cadenza.services.ports import TaskQueue, UnitOfWorkFactory
from cadenza.services.tasks import dispatch, settle_failure

log = logging.getLogger(__name__)

TIMED_OUT = "timed out"


@dataclass(frozen=True)
class ReapReport:
    failed: int
    redispatched: int


def reap(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    *,
    now: datetime | None = None,
    undispatched_after_s: float = 30,
) -> ReapReport:
    """Fail and refund tasks past their deadline; enqueue again tasks never dispatched.

    Safe to run from several processes at once: each task is settled under its row lock,
    and the ledger refuses a second refund.
    """
    moment = now or utcnow()
    with uow() as u:
        expired = [t.id for t in u.tasks.find_expired(moment)]
        stranded = u.tasks.find_undispatched(moment - timedelta(seconds=undispatched_after_s))
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
    if failed or redispatched:
        log.info("reaper: %d timed out, %d dispatched again", failed, redispatched)
    return ReapReport(failed=failed, redispatched=redispatched)
