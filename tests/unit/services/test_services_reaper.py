from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from svc_doubles import FakeEngine, MemoryStorage, RecordingQueue

from cadenza.domain.billing import ApiKey, EntryType
from cadenza.domain.tasks import ClipStatus, TaskStatus, utcnow
from cadenza.services import billing, tasks
from cadenza.services.ports import UnitOfWorkFactory
from cadenza.services.reaper import ReapReport, reap
from cadenza.services.views import UowViews
from cadenza.services.worker import TaskRunner


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


# -- tasks of an in-process queue that is gone (its server stopped or was killed) ----------

MUSIC = {"prompt": "a calm song about rain", "tags": "ambient"}


def _held(uow: UnitOfWorkFactory, task_id: str) -> Any:
    with uow() as u:
        task = u.tasks.get(task_id)
        assert task is not None
        return task, [c.status for c in u.clips.list_for_tasks([task_id])]


def _start_running(uow: UnitOfWorkFactory, task_id: str, attempts: int = 1) -> None:
    """What a worker's claim leaves: IN_PROGRESS, clips streaming, a fresh heartbeat."""
    with uow() as u:
        task = u.tasks.get(task_id, for_update=True)
        assert task is not None
        task.move_to(TaskStatus.IN_PROGRESS)
        task.attempts = attempts
        task.heartbeat_at = utcnow()
        u.tasks.update(task)
        for clip in u.clips.list_for_tasks([task_id]):
            clip.status = ClipStatus.STREAMING
            u.clips.update(clip)
        u.commit()


def test_dispatch_records_the_in_process_queue_holding_the_task(
    uow: UnitOfWorkFactory, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    held = tasks.submit(uow, RecordingQueue("q-1"), key, "CROP", {})
    brokered = tasks.submit(uow, RecordingQueue(), key, "CROP", {})
    assert held.queue_instance == "q-1"
    assert _held(uow, held.id)[0].queue_instance == "q-1"
    assert _held(uow, brokered.id)[0].queue_instance is None
    assert _held(uow, brokered.id)[0].dispatched


def test_tasks_of_a_dead_queue_are_handed_out_again_at_once(
    uow: UnitOfWorkFactory, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    dead = RecordingQueue("old")
    waiting = tasks.submit_music(uow, dead, key, MUSIC)
    running = tasks.submit_music(uow, dead, key, MUSIC)
    _start_running(uow, running.id)  # beating a moment ago: not stalled
    live = RecordingQueue("new")
    live.dead = {"old"}
    assert reap(uow, live) == ReapReport(0, 0, revived=0, recovered=2)
    assert sorted(live.enqueued) == sorted([(waiting.id, None), (running.id, None)])
    for task_id in (waiting.id, running.id):
        task, clips = _held(uow, task_id)
        assert task.status is TaskStatus.QUEUED and task.queue_instance == "new"
        assert task.dispatched and clips == [ClipStatus.QUEUED] * 2
    # The attempt that died with the old server still counts.
    assert _held(uow, running.id)[0].attempts == 1
    assert _held(uow, waiting.id)[0].attempts == 0
    # Held by this live queue now: the next pass has nobody to ask about.
    live.asked.clear()
    assert reap(uow, live) == ReapReport(0, 0)
    assert live.asked == [] and len(live.enqueued) == 2


def test_tasks_of_live_queues_and_brokers_are_left_alone(
    uow: UnitOfWorkFactory, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    elsewhere = tasks.submit(uow, RecordingQueue("other"), key, "CROP", {})
    brokered = tasks.submit(uow, RecordingQueue(), key, "CROP", {})
    mine = RecordingQueue("mine")
    own = tasks.submit(uow, mine, key, "CROP", {})
    mine.enqueued.clear()
    assert reap(uow, mine) == ReapReport(0, 0)
    assert mine.asked == [{"other"}]  # never about itself, never about a broker
    assert mine.enqueued == []
    assert _held(uow, elsewhere.id)[0].queue_instance == "other"
    assert _held(uow, brokered.id)[0].queue_instance is None
    assert _held(uow, own.id)[0].queue_instance == "mine"


def test_two_reapers_hand_a_task_out_once(
    uow: UnitOfWorkFactory, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    task = tasks.submit(uow, RecordingQueue("old"), key, "CROP", {}, route="box-1")
    first, second = RecordingQueue("s1"), RecordingQueue("s2")
    first.dead = second.dead = {"old"}
    assert reap(uow, first).recovered == 1
    assert reap(uow, second).recovered == 0
    assert first.enqueued == [(task.id, "box-1")] and second.enqueued == []
    assert _held(uow, task.id)[0].queue_instance == "s1"


def test_a_dead_queue_task_past_its_deadline_fails_instead(
    uow: UnitOfWorkFactory, make_key: Callable[..., ApiKey], balance: Any
) -> None:
    key = make_key("10")
    task = tasks.submit(uow, RecordingQueue("old"), key, "CROP", {}, deadline_s=60)
    live = RecordingQueue("new")
    live.dead = {"old"}
    later = utcnow() + timedelta(seconds=61)
    assert reap(uow, live, now=later) == ReapReport(failed=1, redispatched=0)
    assert live.enqueued == []
    assert _held(uow, task.id)[0].status is TaskStatus.FAILURE
    assert balance(key.id) == Decimal("10")


def test_a_recovered_task_not_enqueued_is_dispatched_by_a_later_pass(
    uow: UnitOfWorkFactory, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key()
    task = tasks.submit(uow, RecordingQueue("old"), key, "CROP", {})
    live = RecordingQueue("new")
    live.dead = {"old"}
    live.fail = True  # stopping under us
    assert reap(uow, live).recovered == 0
    stored = _held(uow, task.id)[0]
    assert not stored.dispatched and stored.queue_instance is None
    live.fail = False
    later = utcnow() + timedelta(seconds=31)
    assert reap(uow, live, now=later, undispatched_after_s=30) == ReapReport(0, 1)
    assert live.enqueued == [(task.id, None)]
    assert _held(uow, task.id)[0].queue_instance == "new"


def test_a_recovered_poison_task_fails_with_one_refund(
    uow: UnitOfWorkFactory,
    make_key: Callable[..., ApiKey],
    balance: Any,
    storage: MemoryStorage,
    tmp_path: Path,
) -> None:
    # Each start ran it and died with it (three crashes): it is given up, refunded once.
    key = make_key("20")
    task = tasks.submit_music(uow, RecordingQueue("old"), key, MUSIC)
    _start_running(uow, task.id, attempts=3)
    live = RecordingQueue("new")
    live.dead = {"old"}
    assert reap(uow, live).recovered == 1
    engine = FakeEngine()
    runner = TaskRunner(uow, storage, lambda action: engine, work_root=tmp_path, max_attempts=3)
    runner.run(task.id)
    runner.run(task.id)  # a second delivery changes nothing
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.FAILURE
    assert view.task.fail_reason == "gave up after 3 attempts"
    assert engine.calls == []
    kinds = [e.entry_type for e in billing.transactions(uow, key) if e.task_id == task.id]
    assert sorted(kinds) == [EntryType.CONSUME, EntryType.REFUND]
    assert balance(key.id) == Decimal("20")


def test_the_reaper_prunes_events_of_tasks_finished_long_ago(
    uow: UnitOfWorkFactory, queue: Any, make_key: Callable[..., ApiKey]
) -> None:
    key = make_key("20")
    task = tasks.submit(uow, queue, key, "MUSIC", {"x": 1}, deadline_s=60)
    waiting = tasks.submit(uow, queue, key, "CROP", {"x": 2}, deadline_s=7 * 24 * 3600)
    assert reap(uow, queue, now=utcnow() + timedelta(seconds=120)).failed == 1
    with uow(read_only=True) as u:
        assert u.task_events.latest_seq(task.id) > 0
    # Timed out two minutes from now; events kept for a day after that.
    soon = utcnow() + timedelta(hours=1)
    assert reap(uow, queue, now=soon, event_retention_days=1).pruned == 0
    much_later = utcnow() + timedelta(days=2)
    assert reap(uow, queue, now=much_later, event_retention_days=1).pruned >= 2
    with uow(read_only=True) as u:
        assert u.task_events.after(task.id, 0, 10) == []
        assert u.task_events.latest_seq(waiting.id) > 0  # unfinished: kept
