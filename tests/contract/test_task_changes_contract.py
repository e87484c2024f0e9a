"""``TaskChanges`` on each database: every new revision of a task is heard once it commits
(PostgreSQL announces it on a channel; SQLite logs it and the listener reads the log when
``PRAGMA data_version`` moves), and the listener says when changes may have been missed."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

from cadenza.bootstrap import build_changes
from cadenza.db import uow_factory
from cadenza.domain.billing import new_api_key
from cadenza.domain.tasks import Clip, Task, TaskStatus, new_id
from cadenza.services.ports import TaskChanges, UnitOfWorkFactory
from cadenza.settings import Settings

MigratedEngine = Callable[..., object]
WAIT_S = 15.0  # a liveness bound, not a speed target


@pytest.fixture(scope="module")
def db_engine(database_kind: str, migrated_engine: MigratedEngine) -> Iterator[Engine]:
    with migrated_engine(database_kind, "cadenza_changes") as engine:  # type: ignore[operator]
        yield engine


class Heard:
    def __init__(self) -> None:
        self.changes: queue.Queue[tuple[str, int]] = queue.Queue()
        self.resets = threading.Semaphore(0)

    def change(self, task_id: str, revision: int) -> None:
        self.changes.put((task_id, revision))

    def reset(self) -> None:
        self.resets.release()

    def next_change(self, timeout: float = WAIT_S) -> tuple[str, int]:
        return self.changes.get(timeout=timeout)


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def changes(db_engine: Engine) -> Iterator[tuple[TaskChanges, Heard]]:
    url = db_engine.url.render_as_string(hide_password=False)
    found = build_changes(Settings(database_url=url))
    heard = Heard()
    found.start(heard.change, heard.reset)
    try:
        yield found, heard
    finally:
        found.stop()


def stored_task(uow: UnitOfWorkFactory) -> tuple[Task, Clip]:
    key, _ = new_api_key("changes", credits=Decimal("0"))
    task = Task(
        id=new_id(),
        key_id=key.id,
        action="MUSIC",
        params={},
        price=Decimal("1"),
        status=TaskStatus.IN_PROGRESS,
    )
    clip = Clip(id=new_id(), task_id=task.id, key_id=key.id, title="a")
    with uow() as u:
        u.keys.add(key)
        u.tasks.add(task)
        u.clips.add(clip)
        u.commit()
    return task, clip


def revision_of(uow: UnitOfWorkFactory, task: Task) -> int:
    with uow(read_only=True) as u:
        return u.tasks.revisions([task.id], task.key_id)[task.id]


def test_every_new_revision_is_announced_once_committed(
    database_kind: str, db_engine: Engine, changes: tuple[TaskChanges, Heard]
) -> None:
    found, heard = changes
    wait_until(lambda: found.live, "the listener to be live")
    assert heard.resets.acquire(timeout=1)  # said so before it began to listen
    uow = uow_factory(db_engine)
    task, clip = stored_task(uow)
    # Adding its clip in the same transaction made the task's first revision.
    assert heard.next_change() == (task.id, 1)
    with uow() as u:  # the task changes
        current = u.tasks.get(task.id, for_update=True)
        assert current is not None
        current.progress = 50
        u.tasks.update(current)
        u.commit()
    assert heard.next_change() == (task.id, revision_of(uow, task))
    with uow() as u:  # one of its clips changes
        clip.title = "b"
        u.clips.update(clip)
        u.commit()
    assert heard.next_change() == (task.id, revision_of(uow, task))
    with uow() as u:  # rolled back: never announced
        current = u.tasks.get(task.id, for_update=True)
        assert current is not None
        current.progress = 99
        u.tasks.update(current)
    with uow() as u:  # a heartbeat changes no answer: no notice
        assert u.tasks.beat(task.id, datetime.now(UTC))
        u.commit()
    time.sleep(0.5)
    assert heard.changes.empty()


def test_a_dropped_listener_says_so_and_listens_again(
    database_kind: str, db_engine: Engine, changes: tuple[TaskChanges, Heard]
) -> None:
    if database_kind != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no listener")
    found, heard = changes
    wait_until(lambda: found.live, "the listener to be live")
    assert heard.resets.acquire(timeout=1)
    with db_engine.connect() as admin:  # a server restart or an idle timeout, as it looks
        admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
        admin.commit()
    assert heard.resets.acquire(timeout=WAIT_S)  # missed notices: everything kept goes
    wait_until(lambda: found.live, "the listener to be live again")
    uow = uow_factory(db_engine)
    task, _ = stored_task(uow)
    assert heard.next_change() == (task.id, 1)
    with uow() as u:
        current = u.tasks.get(task.id, for_update=True)
        assert current is not None
        current.progress = 10
        u.tasks.update(current)
        u.commit()
    assert heard.next_change() == (task.id, revision_of(uow, task))
    found.stop()
    assert found.live is False


def test_sqlite_log_rows_pruned_unread_mean_a_reset(database_kind: str, db_engine: Engine) -> None:
    if database_kind != "sqlite":
        pytest.skip("SQLite only: PostgreSQL's notices are not a log")
    from cadenza.db.changes import SqliteTaskChanges

    found = SqliteTaskChanges(str(db_engine.url.database), keep_s=0.2, prune_every_s=0.0)
    heard = Heard()
    found.start(heard.change, heard.reset)
    try:
        wait_until(lambda: found.live, "the listener to be live")
        assert heard.resets.acquire(timeout=1)
        uow = uow_factory(db_engine)
        task, _ = stored_task(uow)
        assert heard.next_change() == (task.id, 1)
        with db_engine.connect() as conn:  # rows the listener never saw, already gone
            last = conn.execute(text("SELECT MAX(id) FROM task_change_log")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO task_change_log (id, task_id, revision, logged_at) "
                    "VALUES (:id, :task, 7, julianday('now'))"
                ),
                {"id": last + 3, "task": task.id},
            )
            conn.commit()
        assert heard.resets.acquire(timeout=WAIT_S)  # everything kept goes
        assert heard.next_change() == (task.id, 7)
        # Rows older than keep_s are pruned by the listener as it reads.
        time.sleep(0.3)
        with uow() as u:
            current = u.tasks.get(task.id, for_update=True)
            assert current is not None
            current.progress = 20
            u.tasks.update(current)
            u.commit()
        heard.next_change()

        def only_the_latest_left() -> bool:
            with db_engine.connect() as conn:
                return conn.execute(text("SELECT COUNT(*) FROM task_change_log")).scalar_one() == 1

        wait_until(only_the_latest_left, "old log rows to be pruned")
    finally:
        found.stop()
    assert found.live is False
