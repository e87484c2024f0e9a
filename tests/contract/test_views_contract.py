"""One contract suite for every ``Views``: the fast SQL lookups and the ones through a
unit of work, each on SQLite and on PostgreSQL. Both must answer exactly what the
repositories hold."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, select, text

from cadenza.db import create_engine_for, uow_factory
from cadenza.db import tables as t
from cadenza.db.compiled import CompiledSelect
from cadenza.db.views import SqlViews
from cadenza.domain.billing import ApiKey, new_api_key
from cadenza.domain.errors import InvalidInput, UpstreamUnavailable
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, TaskView, new_id
from cadenza.services.ports import UnitOfWorkFactory, Views
from cadenza.services.views import UowViews

#: The ``migrated_engine`` fixture of ``conftest``.
MigratedEngine = Callable[..., AbstractContextManager[Engine]]


@pytest.fixture(scope="module")
def db_engine(database_kind: str, migrated_engine: MigratedEngine) -> Iterator[Engine]:
    with migrated_engine(database_kind, "cadenza_v") as engine:
        yield engine


@pytest.fixture
def uow(db_engine: Engine) -> UnitOfWorkFactory:
    return uow_factory(db_engine)


@pytest.fixture(scope="module")
def reads_engine(db_engine: Engine) -> Iterator[Engine]:
    """What the server reads polls through on PostgreSQL: autocommit, no pre-ping."""
    url = db_engine.url.render_as_string(hide_password=False)
    engine = create_engine_for(url, pool_pre_ping=False, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sql", "sql-reads", "uow"])
def views(
    request: pytest.FixtureRequest,
    db_engine: Engine,
    uow: UnitOfWorkFactory,
) -> Views:
    if request.param == "sql":
        return SqlViews(db_engine)
    if request.param == "sql-reads":  # on SQLite the reads engine goes unused: reads run inline
        return SqlViews(db_engine, request.getfixturevalue("reads_engine"))
    return UowViews(uow)


def stored_key(uow: UnitOfWorkFactory) -> ApiKey:
    key, _ = new_api_key("views", credits=Decimal("0"))
    with uow() as u:
        u.keys.add(key)
        u.commit()
    return key


def stored_task(uow: UnitOfWorkFactory, key: ApiKey, clips: int = 2) -> Task:
    moment = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    task = Task(
        id=new_id(),
        key_id=key.id,
        action="MUSIC",
        params={"prompt": "über «nuit» 夜", "nested": {"n": [1, 2.5, None]}},
        price=Decimal("12.3456"),
        status=TaskStatus.IN_PROGRESS,
        progress=42,
        submit_time=moment,
        start_time=moment + timedelta(seconds=1),
        deadline=moment + timedelta(minutes=15),
    )
    with uow() as u:
        u.tasks.add(task)
        for n in range(clips):
            u.clips.add(
                Clip(
                    id=new_id(),
                    task_id=task.id,
                    key_id=key.id,
                    title=f"Song {n} — ♪",
                    tags="pop, 流行",
                    lyrics="[Verse]\nla la",
                    status=ClipStatus.STREAMING,
                    duration=171.25 + n,
                    audio_key=f"clips/{n}/song.mp3",
                    files={"song.wav": f"clips/{n}/song.wav"},
                    metadata={"seed": n, "ok": True},
                    created_at=moment + timedelta(milliseconds=n),
                )
            )
        u.commit()
    return task


def stored_view(uow: UnitOfWorkFactory, task_id: str) -> TaskView:
    with uow(read_only=True) as u:
        task = u.tasks.get(task_id)
        assert task is not None
        return TaskView(task, u.clips.list_for_tasks([task_id]))


def as_polled(view: TaskView) -> TaskView:
    """What a poll needs: everything but the task's request (``params``), which a
    ``Views`` may leave unread."""
    return TaskView(dataclasses.replace(view.task, params={}), view.clips)


def test_a_task_reads_back_exactly_as_stored(views: Views, uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    task = stored_task(uow, key)
    [view] = views.tasks([task.id], key.id)
    assert as_polled(view) == as_polled(stored_view(uow, task.id))
    assert view.task.params in ({}, task.params)
    assert view.task.price == Decimal("12.3456")
    assert view.task.submit_time == task.submit_time
    assert view.task.submit_time.tzinfo is not None
    assert [c.duration for c in view.clips] == [171.25, 172.25]
    assert view.clips[0].files == {"song.wav": "clips/0/song.wav"}
    assert view.clips[1].metadata == {"seed": 1, "ok": True}
    assert view.clips[0].title == "Song 0 — ♪"


def test_only_the_keys_own_tasks_in_the_order_asked(views: Views, uow: UnitOfWorkFactory) -> None:
    alice, bob = stored_key(uow), stored_key(uow)
    first, second = stored_task(uow, alice), stored_task(uow, alice, clips=0)
    theirs = stored_task(uow, bob)
    found = views.tasks([second.id, "missing", theirs.id, first.id, second.id], alice.id)
    assert [v.task.id for v in found] == [second.id, first.id]
    assert found[0].clips == []
    assert views.tasks([first.id], bob.id) == []
    assert views.tasks([], alice.id) == []


def test_a_committed_change_is_seen_by_the_next_lookup(
    views: Views, uow: UnitOfWorkFactory
) -> None:
    key = stored_key(uow)
    task = stored_task(uow, key)
    assert views.tasks([task.id], key.id)[0].task.progress == 42
    with uow() as u:
        current = u.tasks.get(task.id, for_update=True)
        assert current is not None
        current.progress = 77
        u.tasks.update(current)
        u.commit()
    assert views.tasks([task.id], key.id)[0].task.progress == 77


def test_lookups_from_many_threads(views: Views, uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    ids = [stored_task(uow, key).id for _ in range(4)]
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            for n in range(25):
                assert [v.task.id for v in views.tasks(ids, key.id)] == ids
                assert [v.task.id for v in views.tasks([ids[n % 4]], key.id)] == [ids[n % 4]]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_only_sqlite_lookups_run_inline(db_engine: Engine, uow: UnitOfWorkFactory) -> None:
    assert SqlViews(db_engine).inline is (db_engine.dialect.name == "sqlite")
    assert UowViews(uow).inline is False


def test_a_database_error_is_a_domain_error(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated
    try:
        for views in (SqlViews(engine), UowViews(uow_factory(engine))):
            with pytest.raises(UpstreamUnavailable):
                views.tasks(["x"], "k")
    finally:
        engine.dispose()


def test_a_nul_character_is_the_clients_mistake_never_a_database_failure(
    views: Views, uow: UnitOfWorkFactory, database_kind: str
) -> None:
    """PostgreSQL stores no NUL character (SQLite does): a lookup of one finds nothing or
    is refused as bad input (400), and so is a write; neither is UpstreamUnavailable."""
    key = stored_key(uow)
    try:
        assert views.tasks(["a\x00b"], key.id) == []
    except InvalidInput:
        assert database_kind == "postgresql"
    in_json = Task(id=new_id(), key_id=key.id, action="MUSIC", params={"p": "a\x00b"}, price=1)
    in_text = dataclasses.replace(in_json, id=new_id(), fail_reason="a\x00b")
    with uow() as u:
        u.tasks.add(in_json)  # JSON escapes it: stored on both
        u.commit()
    assert [v.task.id for v in views.tasks([in_json.id], key.id)] == [in_json.id]
    with uow(read_only=True) as u:
        stored = u.tasks.get(in_json.id)
    assert stored is not None and stored.params == {"p": "a\x00b"}
    if database_kind == "postgresql":
        with pytest.raises(InvalidInput, match="NUL"), uow() as u:
            u.tasks.add(in_text)
    else:
        with uow() as u:
            u.tasks.add(in_text)
            u.commit()


def test_compiled_select_refuses_what_it_cannot_run_exactly(db_engine: Engine) -> None:
    expanding = select(t.tasks).where(t.tasks.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="ids"):
        CompiledSelect(expanding, db_engine.dialect)
    query = CompiledSelect(
        select(t.tasks).where(t.tasks.c.id == bindparam("task_id")), db_engine.dialect
    )
    with pytest.raises(KeyError, match="task_id"):
        query.parameters({})


def test_a_key_reads_back_exactly_as_stored(views: Views, uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    with uow() as u:
        u.keys.credit(key.id, Decimal("7.5"))
        u.commit()
    with uow(read_only=True) as u:
        stored = u.keys.get_by_hash(key.key_hash)
    found = views.key_by_hash(key.key_hash)
    assert found == stored
    assert found is not None and found.credits_balance == Decimal("7.5")
    assert found.created_at.tzinfo is not None
    assert views.key_by_hash("0" * 64) is None


def test_a_revoked_key_is_found_as_revoked(views: Views, uow: UnitOfWorkFactory) -> None:
    key = stored_key(uow)
    with uow() as u:
        u.keys.revoke(key.id)
        u.commit()
    found = views.key_by_hash(key.key_hash)
    assert found is not None and found.revoked


def test_a_read_connection_the_server_dropped_is_replaced(
    db_engine: Engine, reads_engine: Engine, uow: UnitOfWorkFactory
) -> None:
    if db_engine.dialect.name == "sqlite":
        pytest.skip("PostgreSQL only: SQLite has no server to drop a connection")
    views = SqlViews(db_engine, reads_engine)
    key = stored_key(uow)
    task = stored_task(uow, key)
    threads = [threading.Thread(target=views.tasks, args=([task.id], key.id)) for _ in range(4)]
    for thread in threads:  # several pooled connections now exist
        thread.start()
    for thread in threads:
        thread.join()
    with db_engine.connect() as admin:  # a restart or an idle timeout, as the server does it
        admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = ''"
            )
        )
    # No pre-ping: the dead connection fails once, is dropped, and the read is retried.
    [view] = views.tasks([task.id], key.id)
    assert as_polled(view) == as_polled(stored_view(uow, task.id))
    assert views.key_by_hash(key.key_hash) is not None
