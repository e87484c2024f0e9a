from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from cadenza.domain.billing import ApiKey, EntryType
from cadenza.domain.tasks import TaskStatus, utcnow
from cadenza.services import billing, tasks
from cadenza.services.ports import UnitOfWorkFactory
from cadenza.services.reaper import ReapReport, reap
from cadenza.services.views import UowViews


def test_expired_task_fails_and_is_refunded_once(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey], balance: Any
) -> None:
    key = make_key("20")
    task = tasks.submit(uow, queue, key, "MUSIC", {"x": 1}, deadline_s=60)
    fresh = tasks.submit(uow, queue, key, "CROP", {"x": 2}, deadline_s=600)
    later = utcnow() + timedelta(seconds=120)
    assert reap(uow, queue, now=later) == ReapReport(failed=1, redispatched=0)
    assert reap(uow, queue, now=later) == ReapReport(failed=0, redispatched=0)
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.FAILURE
    assert view.task.fail_reason == "timed out"
    assert tasks.get(UowViews(uow), key, fresh.id).task.status is TaskStatus.QUEUED
    entries = billing.transactions(uow, key)
    assert [e.entry_type for e in entries if e.task_id == task.id] == [
        EntryType.REFUND,
        EntryType.CONSUME,
    ]
    assert balance(key.id) == Decimal("18")


def test_undispatched_task_is_enqueued_again(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    queue.fail = True
    task = tasks.submit(uow, queue, key, "CROP", {}, route="box-2")
    queue.fail = False
    # Too recent: a submit may still be between its commit and its enqueue.
    assert reap(uow, queue, undispatched_after_s=30) == ReapReport(0, 0)
    later = utcnow() + timedelta(seconds=31)
    assert reap(uow, queue, now=later, undispatched_after_s=30) == ReapReport(0, 1)
    assert queue.enqueued == [(task.id, "box-2")]
    assert tasks.get(UowViews(uow), key, task.id).task.dispatched
    assert reap(uow, queue, now=later, undispatched_after_s=30) == ReapReport(0, 0)


def test_broker_still_down_keeps_task_for_next_pass(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    queue.fail = True
    task = tasks.submit(uow, queue, key, "CROP", {})
    later = utcnow() + timedelta(seconds=60)
    assert reap(uow, queue, now=later) == ReapReport(0, 0)
    assert not tasks.get(UowViews(uow), key, task.id).task.dispatched
    queue.fail = False
    assert reap(uow, queue, now=later) == ReapReport(0, 1)


def test_settling_a_task_refunded_elsewhere_does_not_refund_twice(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey], balance: Any
) -> None:
    from cadenza.domain.billing import LedgerEntry
    from cadenza.domain.tasks import new_id

    key = make_key("10")
    task = tasks.submit(uow, queue, key, "CROP", {})
    with uow() as u:
        # An inconsistent state: the refund is booked but the task is still open.
        u.ledger.add(
            LedgerEntry(
                id=new_id(),
                key_id=key.id,
                entry_type=EntryType.REFUND,
                change_amount=Decimal("2"),
                balance_after=Decimal("10"),
                task_id=task.id,
            )
        )
        u.keys.credit(key.id, Decimal("2"))
        u.commit()
    assert tasks.settle_failure(uow, task.id, "boom")
    assert tasks.get(UowViews(uow), key, task.id).task.status is TaskStatus.FAILURE
    assert balance(key.id) == Decimal("10")
    kinds = [e.entry_type for e in billing.transactions(uow, key) if e.task_id == task.id]
    assert kinds.count(EntryType.REFUND) == 1


def _running(uow: UnitOfWorkFactory, task_id: str, heartbeat: Any) -> None:
    with uow() as u:
        task = u.tasks.get(task_id, for_update=True)
        assert task is not None
        task.move_to(TaskStatus.IN_PROGRESS)
        task.attempts = 1
        task.heartbeat_at = heartbeat
        u.tasks.update(task)
        u.commit()


def test_task_whose_worker_stopped_beating_is_handed_out_again(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    silent = tasks.submit(uow, queue, key, "CROP", {}, route="box-1", deadline_s=3600)
    alive = tasks.submit(uow, queue, key, "CROP", {}, deadline_s=3600)
    now = utcnow()
    _running(uow, silent.id, now - timedelta(seconds=200))
    _running(uow, alive.id, now - timedelta(seconds=5))
    queue.enqueued.clear()
    assert reap(uow, queue, now=now, stalled_after_s=120) == ReapReport(0, 0, revived=1)
    assert queue.enqueued == [(silent.id, "box-1")]
    # The heartbeat was reset: the next passes give a worker a whole period to take it.
    assert reap(uow, queue, now=now + timedelta(seconds=60), stalled_after_s=120).revived == 0
    later = now + timedelta(seconds=121)
    assert reap(uow, queue, now=later, stalled_after_s=120).revived == 2
    view = tasks.get(UowViews(uow), key, silent.id)
    assert view.task.status is TaskStatus.IN_PROGRESS and view.task.attempts == 1
