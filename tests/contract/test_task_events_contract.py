"""Task events and the callback outbox on SQLite and PostgreSQL: every change a client can
see is recorded with it and only with it, in order; waiters wake on the next event; the
outbox is shared out between processes and keeps a body once rendered."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text, update

from cadenza.bootstrap import build_changes
from cadenza.db import migrate, uow_factory
from cadenza.db import tables as t
from cadenza.db.schema import alembic_config
from cadenza.domain.billing import ApiKey, new_api_key
from cadenza.domain.callbacks import CallbackDelivery, DeliveryStatus
from cadenza.domain.events import EventKind, TaskEvent
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, new_id, utcnow
from cadenza.services import tasks
from cadenza.services.events import TaskEventWaiter, events_after
from cadenza.services.ports import UnitOfWorkFactory
from cadenza.settings import Settings

MigratedEngine = Callable[..., AbstractContextManager[Engine]]
WAIT_S = 15.0  # a liveness bound, not a speed target


@pytest.fixture(scope="module")
def db_engine(database_kind: str, migrated_engine: MigratedEngine) -> Iterator[Engine]:
    with migrated_engine(database_kind, "cadenza_events", pool_size=8) as engine:
        yield engine


@pytest.fixture
def uow(db_engine: Engine) -> UnitOfWorkFactory:
    return uow_factory(db_engine)


def stored_key(uow: UnitOfWorkFactory) -> ApiKey:
    key, _ = new_api_key("events", credits=Decimal("0"))
    with uow() as u:
        u.keys.add(key)
        u.commit()
    return key


def stored_task(
    uow: UnitOfWorkFactory, key: ApiKey, *, clips: int = 2, **fields: object
) -> tuple[Task, list[Clip]]:
    task = Task(
        id=new_id(),
        key_id=key.id,
        action="MUSIC",
        params={},
        price=Decimal("1"),
        status=TaskStatus.QUEUED,
    )
    for name, value in fields.items():
        setattr(task, name, value)
    made = [
        Clip(id=new_id(), task_id=task.id, key_id=key.id, status=ClipStatus.QUEUED)
        for _ in range(clips)
    ]
    with uow() as u:
        u.tasks.add(task)
        u.clips.add_many(made)
        u.commit()
    return task, made


def events_of(uow: UnitOfWorkFactory, task_id: str, after: int = 0) -> list[TaskEvent]:
    with uow(read_only=True) as u:
        return u.task_events.after(task_id, after, 1000)


def change(uow: UnitOfWorkFactory, task_id: str, edit: Callable[[Task], None]) -> None:
    with uow() as u:
        task = u.tasks.get(task_id, for_update=True)
        assert task is not None
        edit(task)
        u.tasks.update(task)
        u.commit()


def start(task: Task) -> None:
    task.move_to(TaskStatus.IN_PROGRESS)
    task.attempts += 1


def test_the_repository_adds_and_pages_in_order(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    task, _ = stored_task(uow, key, clips=0)
    with uow() as u:
        for p in (10, 20, 30):
            u.task_events.add(TaskEvent(task.id, key.id, EventKind.PROGRESS, {"progress": p}))
        u.commit()
    created, *added = events_of(uow, task.id)
    seqs = [event.seq for event in added]
    assert [event.payload for event in added] == [{"progress": p} for p in (10, 20, 30)]
    assert created.kind is EventKind.CREATED
    assert created.seq < seqs[0] < seqs[1] < seqs[2]
    with uow(read_only=True) as u:
        assert u.task_events.latest_seq(task.id) == seqs[2]
        assert u.task_events.latest_seq("missing") == 0
        page = u.task_events.after(task.id, created.seq, 2)
        assert [e.seq for e in page] == seqs[:2]
        assert [e.payload for e in page] == [{"progress": 10}, {"progress": 20}]
        assert [e.seq for e in u.task_events.after(task.id, seqs[1], 10)] == [seqs[2]]
        assert u.task_events.after(task.id, seqs[2], 10) == []
        got = u.task_events.after(task.id, created.seq, 1)[0]
    assert got.created_at.tzinfo is not None and got.key_id == key.id


def test_every_visible_change_is_recorded_with_it(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    task, clips = stored_task(uow, key)
    change(uow, task.id, start)
    for value in (1, 2, 3, 4, 5, 7, 9, 12, 50):  # 5-point bands: 5, 12 and 50 are new ones
        change(uow, task.id, lambda t, v=value: setattr(t, "progress", v))
    # Bookkeeping no client sees makes no event.
    change(uow, task.id, lambda t: setattr(t, "dispatched", True))
    with uow() as u:
        assert u.tasks.beat(task.id, utcnow())
        u.commit()
    with uow() as u:
        for clip in u.clips.list_for_tasks([task.id]):
            clip.status = ClipStatus.COMPLETE
            clip.duration = 6.0
            u.clips.update(clip)
        fresh = u.tasks.get(task.id, for_update=True)
        assert fresh is not None
        fresh.move_to(TaskStatus.SUCCESS)
        u.tasks.update(fresh)
        u.commit()

    events = events_of(uow, task.id)
    assert [(e.kind.value, e.payload) for e in events] == [
        ("created", {"status": "QUEUED", "action": "MUSIC", "progress": 0}),
        ("state", {"status": "IN_PROGRESS", "progress": 0, "attempt": 1}),
        ("progress", {"progress": 5}),
        ("progress", {"progress": 12}),
        ("progress", {"progress": 50}),
        ("clip", {"clip_id": clips[0].id, "status": "complete", "duration": 6.0}),
        ("clip", {"clip_id": clips[1].id, "status": "complete", "duration": 6.0}),
        ("state", {"status": "SUCCESS", "progress": 100, "attempt": 1}),
    ]
    assert events[-1].terminal and not any(e.terminal for e in events[:-1])


def test_no_event_without_its_change(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    task, _ = stored_task(uow, key)
    before = events_of(uow, task.id)
    with uow() as u:
        fresh = u.tasks.get(task.id, for_update=True)
        assert fresh is not None
        start(fresh)
        u.tasks.update(fresh)
        u.rollback()
    with uow() as u:  # left without commit: rolled back
        orphan = Task(id=new_id(), key_id=key.id, action="MUSIC", params={}, price=0)
        u.tasks.add(orphan)
    assert events_of(uow, task.id) == before
    assert events_of(uow, orphan.id) == []


def test_a_failure_records_its_clips_then_its_end_and_owes_one_callback(
    uow: UnitOfWorkFactory,
) -> None:
    key = stored_key(uow)
    task, clips = stored_task(
        uow, key, callback_url="https://example.com/hook", callback_dialect="test"
    )
    change(uow, task.id, start)
    assert tasks.settle_failure(uow, task.id, "engine exploded")
    assert not tasks.settle_failure(uow, task.id, "again")  # finished: nothing more

    tail = events_of(uow, task.id)[-3:]
    assert [(e.kind, e.payload.get("clip_id")) for e in tail] == [
        (EventKind.CLIP, clips[0].id),
        (EventKind.CLIP, clips[1].id),
        (EventKind.STATE, None),
    ]
    assert tail[0].payload == {
        "clip_id": clips[0].id,
        "status": "error",
        "error": "engine exploded",
    }
    assert tail[2].payload["status"] == "FAILURE" and tail[2].payload["fail_reason"] == (
        "engine exploded"
    )
    with uow(read_only=True) as u:
        (delivery,) = u.callbacks.for_task(task.id)
        assert u.callbacks.get(delivery.event_id) == delivery
    assert delivery.status is DeliveryStatus.PENDING and delivery.url == "https://example.com/hook"
    assert delivery.created_at == tail[2].created_at
    # A later write of the finished task owes nothing more.
    change(uow, task.id, lambda t: setattr(t, "worker", "someone"))
    with uow(read_only=True) as u:
        assert len(u.callbacks.for_task(task.id)) == 1


def test_a_redispatch_is_a_new_attempt(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    task, _ = stored_task(uow, key)
    change(uow, task.id, start)
    change(uow, task.id, lambda t: t.move_to(TaskStatus.QUEUED))  # its queue died
    change(uow, task.id, start)

    def redelivered(t: Task) -> None:  # its worker died; another takes it over
        t.move_to(TaskStatus.QUEUED)
        start(t)

    change(uow, task.id, redelivered)
    states = [e.payload for e in events_of(uow, task.id) if e.kind is EventKind.STATE]
    assert states == [
        {"status": "IN_PROGRESS", "progress": 0, "attempt": 1},
        {"status": "QUEUED", "progress": 0, "attempt": 1, "requeued": True},
        {"status": "IN_PROGRESS", "progress": 0, "attempt": 2},
        {"status": "IN_PROGRESS", "progress": 0, "attempt": 3, "retry": True},
    ]


def test_events_of_long_finished_tasks_are_pruned(
    db_engine: Engine, uow: UnitOfWorkFactory
) -> None:
    key = stored_key(uow)
    old, _ = stored_task(uow, key, clips=0)
    running, _ = stored_task(uow, key, clips=0)
    recent, _ = stored_task(uow, key, clips=0)
    change(uow, old.id, start)
    change(uow, old.id, lambda t: t.move_to(TaskStatus.SUCCESS))
    change(uow, running.id, start)
    change(uow, recent.id, start)
    change(uow, recent.id, lambda t: t.move_to(TaskStatus.SUCCESS))
    # The old task ended, and its events were written, ten days ago.
    ago = utcnow() - timedelta(days=10)
    with db_engine.begin() as conn:
        conn.execute(update(t.tasks).where(t.tasks.c.id == old.id).values(finish_time=ago))
        conn.execute(
            update(t.task_events).where(t.task_events.c.task_id == old.id).values(created_at=ago)
        )
    from cadenza.services.reaper import prune_events

    assert prune_events(uow, utcnow() - timedelta(days=7), batch=1) == 3
    assert events_of(uow, old.id) == []
    assert len(events_of(uow, running.id)) == 2
    assert len(events_of(uow, recent.id)) == 3


def test_a_key_reads_only_its_own_tasks_events(uow: UnitOfWorkFactory) -> None:
    from cadenza.domain.errors import NotFound

    key, other = stored_key(uow), stored_key(uow)
    task, _ = stored_task(uow, key)
    assert [e.kind for e in events_after(uow, key, task.id)] == [EventKind.CREATED]
    for who, task_id in ((other, task.id), (key, "missing")):
        with pytest.raises(NotFound):
            events_after(uow, who, task_id)


def test_a_waiter_wakes_on_the_next_event(db_engine: Engine, uow: UnitOfWorkFactory) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    changes = build_changes(Settings(database_url=url))
    waiter = TaskEventWaiter(uow, changes, poll_s=0.05)
    changes.start(waiter.changed, waiter.reset)
    try:
        deadline = time.monotonic() + WAIT_S
        while db_engine.dialect.name == "postgresql" and not changes.live:
            assert time.monotonic() < deadline, "the listener never went live"
            time.sleep(0.02)
        key = stored_key(uow)
        task, _ = stored_task(uow, key)
        cursor = events_of(uow, task.id)[-1].seq

        async def scenario() -> tuple[list[TaskEvent], list[TaskEvent], float]:
            assert await waiter.wait_events(task.id, cursor, 0.1) == []  # nothing new: times out
            writer = threading.Timer(0.3, change, (uow, task.id, start))
            began = time.monotonic()
            writer.start()
            found = await waiter.wait_events(task.id, cursor, WAIT_S)
            waited = time.monotonic() - began
            writer.join()
            again = await waiter.wait_events(task.id, 0, WAIT_S)  # behind: answered at once
            return found, again, waited

        found, again, waited = asyncio.run(scenario())
        assert [e.kind for e in found] == [EventKind.STATE]
        assert waited < WAIT_S / 2
        assert [e.kind for e in again] == [EventKind.CREATED, EventKind.STATE]
        assert waiter.waiting == 0
    finally:
        changes.stop()


def test_claims_are_shared_out_and_a_body_once_kept_stays(
    db_engine: Engine, uow: UnitOfWorkFactory
) -> None:
    key = stored_key(uow)
    task, _ = stored_task(uow, key, clips=0)
    now = utcnow() - timedelta(days=1)  # before the deliveries other tests left due

    def delivery(due_in: timedelta) -> CallbackDelivery:
        url = "https://example.com/h"
        return CallbackDelivery(
            new_id(), task.id, key.id, url, "test", next_attempt_at=now + due_in
        )

    made = [delivery(timedelta(seconds=-i)) for i in range(6)]
    later = delivery(timedelta(hours=1))
    with uow() as u:
        for d in [*made, later]:
            u.callbacks.add(d)
        u.commit()
    lease = now + timedelta(minutes=2)
    with uow(read_only=True) as u:
        assert u.callbacks.due(now)
    concurrent = db_engine.dialect.name == "postgresql"
    theirs: list[CallbackDelivery] = []
    with uow() as first:
        mine = first.callbacks.claim_due(now, lease, 4)
        # Another process claiming meanwhile skips the rows this one holds (on SQLite one
        # writer runs at a time: it would wait for this commit, then find them leased).
        if concurrent:
            with uow() as second:
                theirs = second.callbacks.claim_due(now, lease, 4)
                second.commit()
        first.commit()
    with uow() as u:
        rest = u.callbacks.claim_due(now, lease, 10)
        u.commit()
    ids = {d.event_id for d in made}
    got = [d.event_id for d in mine]
    assert len(got) == 4 and set(got) <= ids and all(d.attempts == 1 for d in mine)
    assert all(d.next_attempt_at == lease for d in mine)
    assert len(theirs) == (2 if concurrent else 0)
    assert {d.event_id for d in [*theirs, *rest]} == ids - set(got)
    with uow(read_only=True) as u:
        assert not u.callbacks.due(now)  # all leased, the later one not due
        assert u.callbacks.due(lease + timedelta(seconds=1))  # a lease that ran out

    target = made[0].event_id
    with uow() as u:
        assert u.callbacks.freeze_body(target, b'{"a":1}', now) == b'{"a":1}'
        assert u.callbacks.freeze_body(target, b'{"b":2}', now) == b'{"a":1}'
        u.callbacks.record_attempt(
            target, status=DeliveryStatus.DELIVERED, next_attempt_at=now, last_error="", now=now
        )
        u.commit()
    with uow(read_only=True) as u:
        kept = u.callbacks.get(target)
    assert kept is not None and kept.body == b'{"a":1}'
    assert kept.status is DeliveryStatus.DELIVERED and kept.delivered_at == now


def test_existing_keys_get_a_callback_secret(
    database_kind: str,
    postgres_database: Callable[[str], AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    def upgrade_from_0011(url: str) -> None:
        from alembic import command

        command.upgrade(alembic_config(url), "0011")
        from cadenza.db import create_engine_for

        engine = create_engine_for(url)
        try:
            with engine.begin() as conn:
                for name in ("a", "b"):
                    conn.execute(
                        text(
                            "INSERT INTO api_keys (id, name, key_hash, key_prefix,"
                            " credits_balance, rate_limit_per_minute, concurrency_limit,"
                            " is_admin, revoked, created_at) VALUES (:id, :n, :h, 'sk_x', 0,"
                            " 60, 4, false, false, :t)"
                        ),
                        {"id": new_id(), "n": name, "h": name * 64, "t": utcnow()},
                    )
            migrate(url)
            with engine.connect() as conn:
                secrets_ = [
                    r[0] for r in conn.execute(text("SELECT callback_secret FROM api_keys"))
                ]
        finally:
            engine.dispose()
        assert len(secrets_) == 2 and len(set(secrets_)) == 2
        assert all(isinstance(s, str) and len(s) >= 40 for s in secrets_)

    if database_kind == "sqlite":
        upgrade_from_0011(f"sqlite:///{tmp_path_factory.mktemp('backfill') / 'c.db'}")
    else:
        with postgres_database("cadenza_backfill") as url:
            upgrade_from_0011(url)
