"""One contract suite for the SQL repositories, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, literal_column, select
from sqlalchemy import table as table_clause

from cadenza.db import create_engine_for, migrate, uow_factory
from cadenza.db.schema import alembic_config, current_revision
from cadenza.db.tables import metadata
from cadenza.domain.actions import Price
from cadenza.domain.billing import ApiKey, EntryType, LedgerEntry, new_api_key
from cadenza.domain.errors import DuplicateLedgerEntry, InvalidInput, NotFound, UpstreamUnavailable
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, new_id, utcnow
from cadenza.services.ports import UnitOfWork, UnitOfWorkFactory

#: The ``migrated_engine`` fixture of ``conftest``.
MigratedEngine = Callable[..., AbstractContextManager[Engine]]


@pytest.fixture(scope="module")
def db_engine(database_kind: str, migrated_engine: MigratedEngine) -> Iterator[Engine]:
    with migrated_engine(database_kind, "cadenza_t", pool_size=12) as engine:
        yield engine


@pytest.fixture
def uow(db_engine: Engine) -> UnitOfWorkFactory:
    return uow_factory(db_engine)


def stored_key(uow: UnitOfWorkFactory, credits: str = "0") -> ApiKey:
    key, _ = new_api_key("contract", credits=Decimal(credits))
    with uow() as u:
        u.keys.add(key)
        u.commit()
    return key


def stored_task(u: UnitOfWork, key: ApiKey, **fields: object) -> Task:
    task = Task(id=new_id(), key_id=key.id, action="MUSIC", params={}, price=Decimal("1"))
    for name, value in fields.items():
        setattr(task, name, value)
    u.tasks.add(task)
    return task


def test_schema_matches_the_tables(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def _schema(engine: Engine) -> dict[str, dict[str, object]]:
    """Every table's columns, keys, indexes and constraints, as the database reports them."""
    found = inspect(engine)  # a fresh inspector: no cached reflection

    def named(items: list[dict[str, Any]]) -> list[str]:
        # default=str: SQL expressions (a partial index's WHERE) compare by their text.
        return sorted(json.dumps(item, sort_keys=True, default=str) for item in items)

    return {
        table: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(table)
            ],
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "indexes": named(list(found.get_indexes(table))),
            "unique": named(list(found.get_unique_constraints(table))),
            "foreign_keys": named(list(found.get_foreign_keys(table))),
            "checks": named(list(found.get_check_constraints(table))),
        }
        for table in sorted(found.get_table_names())
    }


def _contents(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table (alembic's bookkeeping included), in a stable order."""
    with engine.connect() as conn:
        return {
            table: sorted(
                repr(tuple(row))
                for row in conn.execute(
                    select(literal_column("*")).select_from(table_clause(table))
                )
            )
            for table in sorted(inspect(conn).get_table_names())
        }


def test_migrate_is_idempotent(db_engine: Engine, uow: UnitOfWorkFactory) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    key = stored_key(uow, "7.5")
    with uow() as u:
        task = stored_task(u, key, status=TaskStatus.IN_PROGRESS, progress=40)
        u.commit()
    schema, contents = _schema(db_engine), _contents(db_engine)
    # Not vacuous: the first run made every table, recorded head, and the rows are there.
    assert set(schema) == {*metadata.tables, "alembic_version"}
    assert contents["alembic_version"] == [repr((head,))]
    assert key.id in repr(contents["api_keys"]) and task.id in repr(contents["tasks"])

    migrate(url)
    migrate(url)

    assert current_revision(db_engine) == head
    assert _schema(db_engine) == schema
    assert _contents(db_engine) == contents
    with uow() as u:
        assert u.keys.get(key.id) == key
        again = u.tasks.get(task.id)
        assert again is not None and again.progress == 40


def test_keys_round_trip(uow: UnitOfWorkFactory) -> None:
    key, _ = new_api_key("名前", credits=Decimal("12.3456"), concurrency_limit=9, is_admin=True)
    with uow() as u:
        u.keys.add(key)
        u.commit()
    with uow() as u:
        got = u.keys.get(key.id)
        assert got == key
        assert got is not None and got.created_at.tzinfo is not None
        assert u.keys.get(key.id, for_update=True) == key
        assert u.keys.get_by_hash(key.key_hash) == key
        assert u.keys.get("missing") is None
        assert u.keys.get_by_hash("missing") is None
        assert key.id in {k.id for k in u.keys.list()}
        assert u.keys.revoke(key.id)
        assert not u.keys.revoke("missing")
        u.commit()
    with uow() as u:
        revoked = u.keys.get(key.id)
        assert revoked is not None and revoked.revoked


def test_rollback_without_commit(uow: UnitOfWorkFactory) -> None:
    key, _ = new_api_key("ghost")
    with uow() as u:
        u.keys.add(key)
    with uow() as u:
        assert u.keys.get(key.id) is None
        u.keys.add(key)
        u.rollback()
        assert u.keys.get(key.id) is None


def test_conditional_debit_and_credit(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow, "1.0001")
    with uow() as u:
        assert u.keys.debit(key.id, Decimal("0.0001")) == Decimal("1")
        assert u.keys.debit(key.id, Decimal("1.0001")) is None
        assert u.keys.debit(key.id, Decimal("1")) == Decimal("0")
        assert u.keys.debit(key.id, Decimal("0.0001")) is None
        assert u.keys.debit("missing", Decimal("0")) is None
        with pytest.raises(ValueError):
            u.keys.debit(key.id, Decimal("-1"))
        assert u.keys.credit(key.id, Decimal("99999999.9999")) == Decimal("99999999.9999")
        assert u.keys.credit(key.id, Decimal("-0.9999")) == Decimal("99999999")
        with pytest.raises(InvalidInput):
            u.keys.credit(key.id, Decimal("-100000000"))
        with pytest.raises(NotFound):
            u.keys.credit("missing", Decimal("1"))
        u.commit()
    with uow() as u:
        stored = u.keys.get(key.id)
        assert stored is not None and stored.credits_balance == Decimal("99999999")


def test_concurrent_debits_never_overdraw(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow, "5")
    results: list[Decimal | None] = []
    barrier = threading.Barrier(10)

    def spend() -> None:
        barrier.wait()
        with uow() as u:
            balance = u.keys.debit(key.id, Decimal("1"))
            u.commit()
        results.append(balance)

    threads = [threading.Thread(target=spend) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r for r in results if r is not None) == [0, 1, 2, 3, 4]
    assert results.count(None) == 5


def test_prices(uow: UnitOfWorkFactory) -> None:
    action = f"T{uuid.uuid4().hex[:8]}"
    with uow() as u:
        assert u.prices.get(action) is None
        u.prices.upsert(Price(action, "Test", Decimal("0.5")))
        u.prices.upsert(Price(action, "Test 2", Decimal("1.25"), False, False))
        u.commit()
    with uow() as u:
        assert u.prices.get(action) == Price(action, "Test 2", Decimal("1.25"), False, False)
        assert action in {p.action for p in u.prices.list()}


def entry(key: ApiKey, kind: EntryType, change: str, after: str, task: str | None) -> LedgerEntry:
    return LedgerEntry(
        id=new_id(),
        key_id=key.id,
        entry_type=kind,
        change_amount=Decimal(change),
        balance_after=Decimal(after),
        action="MUSIC",
        task_id=task,
    )


def test_ledger_order_limit_and_unique_charge_and_refund(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    task_id = new_id()
    with uow() as u:
        u.ledger.add(entry(key, EntryType.TOPUP, "10", "10", None))
        u.ledger.add(entry(key, EntryType.TOPUP, "5", "15", None))
        u.ledger.add(entry(key, EntryType.CONSUME, "-10", "5", task_id))
        u.ledger.add(entry(key, EntryType.REFUND, "10", "15", task_id))
        with pytest.raises(DuplicateLedgerEntry):
            u.ledger.add(entry(key, EntryType.REFUND, "10", "25", task_id))
        # The transaction is still usable after a refused refund.
        u.ledger.add(entry(key, EntryType.ADJUST, "-1", "14", None))
        u.commit()
    # A second charge is refused too (its transaction is then done for: charges are
    # written where their task is created, so no caller goes on after one).
    with pytest.raises(DuplicateLedgerEntry), uow() as u:
        u.ledger.add(entry(key, EntryType.CONSUME, "-10", "5", task_id))
    with uow() as u:
        rows = u.ledger.list_for_key(key.id, 100)
        assert [r.entry_type for r in rows] == [
            EntryType.ADJUST,
            EntryType.REFUND,
            EntryType.CONSUME,
            EntryType.TOPUP,
            EntryType.TOPUP,
        ]
        assert [r.balance_after for r in rows] == [14, 15, 5, 15, 10]
        assert rows[1].task_id == task_id and rows[1].created_at.tzinfo is not None
        assert len(u.ledger.list_for_key(key.id, 2)) == 2
        assert u.ledger.list_for_key("missing", 10) == []


def test_refund_race_one_row(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    task_id = new_id()
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def refund() -> None:
        barrier.wait()
        try:
            with uow() as u:
                u.ledger.add(entry(key, EntryType.REFUND, "1", "1", task_id))
                u.commit()
            outcomes.append("ok")
        except DuplicateLedgerEntry:
            outcomes.append("dup")

    threads = [threading.Thread(target=refund) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["dup"] * 5 + ["ok"]


def test_tasks_round_trip_and_queries(uow: UnitOfWorkFactory) -> None:
    key, other = stored_key(uow), stored_key(uow)
    now = utcnow()
    with uow() as u:
        task = stored_task(
            u,
            key,
            params={"lyrics": "你好 🎵", "n": [1, 2.5, None]},
            price=Decimal("10.5"),
            status=TaskStatus.QUEUED,
            deadline=now + timedelta(seconds=60),
            idempotency_key="idem",
            request_hash="h" * 64,
            route="w1",
        )
        stored_task(u, key, status=TaskStatus.SUCCESS)
        foreign = stored_task(u, other, status=TaskStatus.QUEUED)
        u.commit()
    with uow() as u:
        got = u.tasks.get(task.id)
        assert got == task
        assert u.tasks.get(task.id, for_update=True) == task
        assert u.tasks.get("missing") is None
        assert [t.id for t in u.tasks.get_many([task.id, foreign.id, "x"], key.id)] == [task.id]
        assert u.tasks.get_many([], key.id) == []
        assert u.tasks.count_active(key.id) == 1
        for n in range(3):  # more unfinished tasks: counted in full, or up to a bound
            stored_task(u, key, status=(TaskStatus.QUEUED, TaskStatus.IN_PROGRESS)[n % 2])
        assert u.tasks.count_active(key.id) == 4
        assert [u.tasks.count_active(key.id, up_to=n) for n in (0, 2, 4, 9)] == [0, 2, 4, 4]
        assert u.tasks.find_by_idempotency(key.id, "idem") == task
        assert u.tasks.find_by_idempotency(other.id, "idem") is None
        assert task.id not in {t.id for t in u.tasks.find_expired(now)}
        assert task.id in {t.id for t in u.tasks.find_expired(now + timedelta(seconds=61))}
        assert task.id in {t.id for t in u.tasks.find_undispatched(now + timedelta(seconds=1))}
        assert task.id not in {t.id for t in u.tasks.find_undispatched(now - timedelta(seconds=1))}
        task.move_to(TaskStatus.IN_PROGRESS)
        task.progress = 42
        task.dispatched = True
        u.tasks.update(task)
        u.commit()
    with uow() as u:
        got = u.tasks.get(task.id)
        assert got is not None and got.progress == 42 and got.start_time is not None
        later = now + timedelta(days=1)
        assert task.id not in {t.id for t in u.tasks.find_undispatched(later)}
        with pytest.raises(NotFound):
            u.tasks.update(Task(id="missing", key_id=key.id, action="X", params={}, price=0))


def test_heartbeats_and_stalled_tasks(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    now = utcnow()
    with uow() as u:
        waiting = stored_task(u, key, status=TaskStatus.QUEUED)
        running = stored_task(u, key, status=TaskStatus.IN_PROGRESS, start_time=now)
        u.commit()
    hour = timedelta(hours=1)
    with uow() as u:
        assert not u.tasks.beat(waiting.id, now)  # only running tasks beat
        assert running.id in {t.id for t in u.tasks.find_stalled(now + hour)}  # start counts
        assert u.tasks.beat(running.id, now + 2 * hour)
        u.commit()
    with uow() as u:
        got = u.tasks.get(running.id)
        assert got is not None and got.heartbeat_at == now + 2 * hour
        stalled = {t.id for t in u.tasks.find_stalled(now + hour)}
        assert running.id not in stalled and waiting.id not in stalled
        assert running.id in {t.id for t in u.tasks.find_stalled(now + 3 * hour)}
        assert not u.tasks.beat("missing", now)


def test_tasks_held_by_queue_instances(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    now = utcnow()
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    with uow() as u:
        queued = stored_task(u, key, status=TaskStatus.QUEUED, queue_instance=a, dispatched=True)
        running = stored_task(
            u,
            key,
            status=TaskStatus.IN_PROGRESS,
            queue_instance=a,
            submit_time=now - timedelta(seconds=5),
        )
        other = stored_task(u, key, status=TaskStatus.QUEUED, queue_instance=b)
        stored_task(u, key, status=TaskStatus.SUCCESS, queue_instance=f"done-{a}")
        stored_task(u, key, status=TaskStatus.FAILURE, queue_instance=f"done-{b}")
        brokered = stored_task(u, key, status=TaskStatus.QUEUED)  # no in-process queue
        u.commit()
    with uow() as u:
        got = u.tasks.get(queued.id)
        assert got is not None and got.queue_instance == a and got.dispatched
        holders = u.tasks.queue_instances()
        assert {a, b} <= holders  # other tests' tasks may be there too
        assert not {h for h in holders if h.startswith("done-")}
        assert [t.id for t in u.tasks.find_held_by([a])] == [running.id, queued.id]
        assert {t.id for t in u.tasks.find_held_by({a, b})} == {queued.id, running.id, other.id}
        assert u.tasks.find_held_by([]) == []
        assert u.tasks.find_held_by(["nobody"]) == []
        assert brokered.id not in {t.id for t in u.tasks.find_held_by(holders)}
        queued.queue_instance = b
        u.tasks.update(queued)
        u.commit()
    with uow() as u:
        assert {t.id for t in u.tasks.find_held_by([b])} == {queued.id, other.id}
        views_task = u.tasks.get_many([queued.id], key.id)[0]
        assert views_task.queue_instance == b


def test_times_are_stored_in_utc(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    local = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=8)))
    with uow() as u:
        task = stored_task(u, key, submit_time=local, deadline=local + timedelta(hours=1))
        u.commit()
    with uow() as u:
        got = u.tasks.get(task.id)
        assert got is not None
        assert got.submit_time == local and got.submit_time.tzinfo == UTC
        assert got.submit_time.hour == 19


def test_clips_round_trip_in_insertion_order(uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    with uow() as u:
        task = stored_task(u, key)
        ids = [new_id() for _ in range(3)]
        for i, clip_id in enumerate(ids):
            u.clips.add(
                Clip(
                    id=clip_id,
                    task_id=task.id,
                    key_id=key.id,
                    title=f"song {i}",
                    files={"song.mp3": "clips/a/song.mp3"},
                    metadata={"tags": "pop", "duration": 1.5},
                    duration=1.25,
                )
            )
        u.commit()
    with uow() as u:
        clips = u.clips.list_for_tasks([task.id])
        assert [c.id for c in clips] == ids
        assert clips[0].files == {"song.mp3": "clips/a/song.mp3"}
        assert clips[0].metadata == {"tags": "pop", "duration": 1.5}
        assert u.clips.list_for_tasks([]) == []
        assert u.clips.get("missing") is None
        clip = u.clips.get(ids[1])
        assert clip is not None
        clip.status = ClipStatus.COMPLETE
        clip.audio_key = "clips/b/song.mp3"
        u.clips.update(clip)
        u.commit()
    with uow() as u:
        assert u.clips.get(ids[1]) == clip
        with pytest.raises(NotFound):
            u.clips.update(Clip(id="missing", task_id=task.id, key_id=key.id))


def test_sqlite_file_in_a_new_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'c.db'}"
    migrate(url)
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_unreachable_database_is_a_domain_error() -> None:
    engine = create_engine_for(
        "postgresql://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    try:
        with pytest.raises(UpstreamUnavailable), uow_factory(engine)() as u:
            u.keys.get("x")
    finally:
        engine.dispose()


def test_read_only_unit_of_work_reads_beside_an_open_writer(uow: UnitOfWorkFactory) -> None:
    """A poll must not queue behind a writer's transaction (SQLite: WAL snapshot read)."""
    key, _ = new_api_key("reader", credits=Decimal("5"))
    with uow() as u:
        u.keys.add(key)
        u.commit()
    reader_done = threading.Event()
    seen: list[Decimal] = []

    def read() -> None:
        with uow(read_only=True) as r:
            found = r.keys.get(key.id)
            assert found is not None
            seen.append(found.credits_balance)
        reader_done.set()

    with uow() as writer:
        assert writer.keys.debit(key.id, Decimal("2")) == Decimal("3")
        thread = threading.Thread(target=read)
        thread.start()
        # The writer keeps its transaction open until the reader has finished.
        assert reader_done.wait(20), "the read-only unit of work waited for the writer"
        writer.commit()
    thread.join()
    assert seen == [Decimal("5")]


def test_every_change_to_a_task_or_its_clips_counts_its_revision_up(
    uow: UnitOfWorkFactory,
) -> None:
    key, other = stored_key(uow), stored_key(uow)
    with uow() as u:
        task = stored_task(u, key)
        untouched = stored_task(u, key)
        u.commit()
    with uow(read_only=True) as u:
        start = u.tasks.revisions([task.id, untouched.id, "missing"], key.id)
        assert set(start) == {task.id, untouched.id}
        assert u.tasks.revisions([task.id], other.id) == {}  # another key's: not there
        assert u.tasks.revisions([], key.id) == {}

    def revision() -> int:
        with uow(read_only=True) as u:
            return u.tasks.revisions([task.id], key.id)[task.id]

    seen = [revision()]
    with uow() as u:  # the task itself
        current = u.tasks.get(task.id, for_update=True)
        assert current is not None
        current.progress = 10
        u.tasks.update(current)
        u.commit()
    seen.append(revision())
    clip = Clip(id=new_id(), task_id=task.id, key_id=key.id, title="a")
    with uow() as u:  # a clip added
        u.clips.add(clip)
        u.commit()
    seen.append(revision())
    with uow() as u:  # a clip changed (a video made for it, say)
        clip.video_key = "clips/a/video.mp4"
        u.clips.update(clip)
        u.commit()
    seen.append(revision())
    with uow() as u:  # a heartbeat shows in no answer: no new revision
        u.tasks.beat(task.id, datetime.now(UTC))
        u.commit()
    seen.append(revision())
    with uow() as u:  # rolled back: nothing changed
        current = u.tasks.get(task.id, for_update=True)
        assert current is not None
        current.progress = 99
        u.tasks.update(current)
    seen.append(revision())
    assert seen[0] < seen[1] < seen[2] < seen[3] == seen[4] == seen[5], seen
    with uow() as u:
        assert u.tasks.revisions([untouched.id], key.id) == {untouched.id: start[untouched.id]}
        found = u.tasks.get(task.id)
        assert found is not None and found.revision == seen[-1]
