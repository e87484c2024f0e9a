"""Money under concurrency: no overdraft, no double refund, no slot leak.

Runs on PostgreSQL (a fresh database for the session; skipped, saying why, when the server
is unreachable) and on SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from cadenza.db import create_engine_for, migrate, uow_factory
from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey, EntryType
from cadenza.domain.errors import ConcurrencyLimited, EngineError, InsufficientCredits
from cadenza.domain.tasks import TaskStatus, utcnow
from cadenza.services import billing, keys, tasks
from cadenza.services.ports import ProgressCallback, UnitOfWorkFactory
from cadenza.services.reaper import reap
from cadenza.services.views import UowViews
from cadenza.services.worker import TaskRunner


class NullQueue:
    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        with self._lock:
            self.count += 1

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    instance: str | None = None  # a broker's queue: tasks outlive the server

    def gone(self, instances: Collection[str]) -> set[str]:
        return set()


class NoStorage:
    def put_file(self, key: str, path: Path, content_type: str) -> None:
        raise AssertionError("nothing is stored by a failing engine")

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        raise AssertionError("nothing is stored by a failing engine")

    def get_bytes(self, key: str) -> bytes:
        raise KeyError(key)

    def fetch_to(self, key: str, dest: Path) -> Path:
        raise KeyError(key)

    def exists(self, key: str) -> bool:
        return False

    def url(self, key: str) -> str:
        return key

    def delete_prefix(self, prefix: str) -> None:
        pass


class FailingEngine:
    name = "failing"

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: ProgressCallback
    ) -> list[dict[str, Any]]:
        raise EngineError("engine exploded")


@pytest.fixture(
    scope="module", params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"]
)
def backend(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: Callable[[str], AbstractContextManager[str]],
) -> Iterator[tuple[str, Engine]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ledger-race') / 'cadenza.db'}"
        migrate(url)
        engine = create_engine_for(url, pool_size=10, max_overflow=20)
        yield "sqlite", engine
        engine.dispose()
        return
    with postgres_database("cadenza_t") as url:
        migrate(url)
        engine = create_engine_for(url, pool_size=20, max_overflow=20)
        try:
            yield "postgresql", engine
        finally:
            engine.dispose()


@pytest.fixture
def uow(backend: tuple[str, Engine]) -> UnitOfWorkFactory:
    factory = uow_factory(backend[1])
    billing.seed_prices(factory)
    return factory


def hammer(n: int, action: Callable[[int], object]) -> list[object]:
    """Run ``action`` from ``n`` threads released at the same moment."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def go(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def ledger(uow: UnitOfWorkFactory, key: ApiKey) -> list[Any]:
    return billing.transactions(uow, key, limit=500)


def balance(uow: UnitOfWorkFactory, key: ApiKey) -> Decimal:
    with uow() as u:
        stored = u.keys.get(key.id)
        assert stored is not None
        return stored.credits_balance


def test_overdraft_race_accepts_exactly_k(
    uow: UnitOfWorkFactory, backend: tuple[str, Engine]
) -> None:
    k = 7
    billing.set_price(uow, Action.MUSIC, price=Decimal("10"), enabled=True)
    key, _ = keys.create_key(uow, name="racer", credits=Decimal(10 * k), concurrency_limit=1000)
    queue = NullQueue()
    threads = 100 if backend[0] == "postgresql" else 24
    body = {"prompt": "a song about racing", "tags": "rock"}
    results = hammer(threads, lambda i: tasks.submit_music(uow, queue, key, body))
    accepted = [r for r in results if isinstance(r, tasks.Task)]
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert len(accepted) == k, [r for r in results if isinstance(r, Exception)][:3]
    assert len(refused) == threads - k
    assert queue.count == k
    assert balance(uow, key) == 0
    entries = ledger(uow, key)
    consumes = [e for e in entries if e.entry_type is EntryType.CONSUME]
    assert len(consumes) == k
    assert {e.task_id for e in consumes} == {t.id for t in accepted}
    assert sum(e.change_amount for e in entries) == balance(uow, key)
    # balance_after is the running sum, in ledger order.
    running = Decimal(0)
    for e in reversed(entries):
        running += e.change_amount
        assert e.balance_after == running


def test_concurrency_cap_holds_under_a_burst(
    uow: UnitOfWorkFactory, backend: tuple[str, Engine]
) -> None:
    key, _ = keys.create_key(uow, name="burst", credits=Decimal(1000), concurrency_limit=3)
    threads = 40 if backend[0] == "postgresql" else 16
    results = hammer(threads, lambda i: tasks.submit(uow, NullQueue(), key, "CROP", {"i": i}))
    assert sum(isinstance(r, tasks.Task) for r in results) == 3
    assert sum(isinstance(r, ConcurrencyLimited) for r in results) == threads - 3
    assert balance(uow, key) == Decimal(1000 - 3 * 2)


def test_refund_exactly_once_when_runner_and_reapers_race(
    uow: UnitOfWorkFactory, tmp_path: Path
) -> None:
    billing.set_price(uow, Action.MUSIC, price=Decimal("10"), refund_on_failure=True)
    key, _ = keys.create_key(uow, name="refund", credits=Decimal(30), concurrency_limit=10)
    queue = NullQueue()
    runner = TaskRunner(
        uow, NoStorage(), lambda action: FailingEngine(), work_root=tmp_path, max_attempts=3
    )
    body = {"prompt": "a song", "tags": "jazz"}
    first = tasks.submit_music(uow, queue, key, body)
    runner.run(first.id)
    # The engine failed: one refund. Now reapers and a redelivered run race on it.
    future = utcnow() + timedelta(hours=1)
    second = tasks.submit_music(uow, queue, key, body, deadline_s=60)

    def contend(i: int) -> object:
        if i % 3 == 0:
            return runner.run(first.id if i % 2 else second.id)
        if i % 3 == 1:
            return reap(uow, queue, now=future)
        return tasks.settle_failure(uow, second.id, "cancelled", future)

    results = hammer(9, contend)
    assert not [r for r in results if isinstance(r, Exception)]
    entries = ledger(uow, key)
    for task in (first, second):
        refunds = [e for e in entries if e.task_id == task.id and e.entry_type is EntryType.REFUND]
        assert len(refunds) == 1
        assert tasks.get(UowViews(uow), key, task.id).task.status is TaskStatus.FAILURE
    assert balance(uow, key) == Decimal(30)
    assert sum(e.change_amount for e in entries) == Decimal(30)


def test_reaper_fails_a_crashed_in_progress_task_after_its_deadline(
    uow: UnitOfWorkFactory,
) -> None:
    key, _ = keys.create_key(uow, name="crash", credits=Decimal(10), concurrency_limit=10)
    task = tasks.submit(uow, NullQueue(), key, "CROP", {}, deadline_s=30)
    with uow() as u:
        stored = u.tasks.get(task.id, for_update=True)
        assert stored is not None
        stored.move_to(TaskStatus.IN_PROGRESS)
        stored.attempts = 1
        u.tasks.update(stored)
        u.commit()
    # A worker died mid-render (kill -9): nothing else will ever touch the task.
    assert reap(uow, NullQueue(), now=utcnow()).failed == 0
    report = reap(uow, NullQueue(), now=utcnow() + timedelta(seconds=31))
    assert report.failed >= 1
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.FAILURE and view.task.fail_reason == "timed out"
    assert balance(uow, key) == Decimal(10)
