"""Ledger invariants under random operation sequences (hypothesis stateful, SQLite).

After every step: the balance is never negative, it equals the sum of the key's ledger
entries, each ``balance_after`` is the running sum, a failed task nets zero and a finished
successful one nets minus its price.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine

from cadenza.db import create_engine_for, migrate, uow_factory
from cadenza.domain.billing import EntryType
from cadenza.domain.errors import (
    ConcurrencyLimited,
    EngineError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
)
from cadenza.domain.tasks import TaskStatus, utcnow
from cadenza.services import billing, keys, tasks
from cadenza.services.ports import ProgressCallback, UnitOfWorkFactory
from cadenza.services.reaper import reap
from cadenza.services.worker import TaskRunner

ACTIONS = ("MUSIC", "CROP", "UPSAMPLE_TAGS", "PLAYLIST")


class Queue:
    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    instance: str | None = None  # a broker's queue: tasks outlive the server

    def gone(self, instances: Collection[str]) -> set[str]:
        return set()


class Storage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        self.objects[key] = path.read_bytes()

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = data

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def fetch_to(self, key: str, dest: Path) -> Path:
        dest.write_bytes(self.objects[key])
        return dest

    def exists(self, key: str) -> bool:
        return key in self.objects

    def url(self, key: str) -> str:
        return key

    def delete_prefix(self, prefix: str) -> None:
        for name in [k for k in self.objects if k.startswith(prefix)]:
            del self.objects[name]


class Engine_:
    name = "scripted"

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: ProgressCallback
    ) -> list[dict[str, Any]]:
        if self.fail:
            raise EngineError("scripted failure")
        song = workdir / "song.mp3"
        song.write_bytes(b"ID3")
        return [{"files": {"song.mp3": str(song)}, "meta": {"duration": 1.0}}]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('ledger-invariants') / 'cadenza.db'}"
    migrate(url)
    eng = create_engine_for(url)
    billing.seed_prices(uow_factory(eng))
    yield eng
    eng.dispose()


def test_ledger_invariants_hold(engine: Engine, tmp_path: Path) -> None:
    uow: UnitOfWorkFactory = uow_factory(engine)
    storage = Storage()
    good = TaskRunner(uow, storage, lambda a: Engine_(False), work_root=tmp_path)
    bad = TaskRunner(uow, storage, lambda a: Engine_(True), work_root=tmp_path)

    class Books(RuleBasedStateMachine):
        submitted = Bundle("submitted")

        def __init__(self) -> None:
            super().__init__()
            self.key, _ = keys.create_key(
                uow, name="books", credits=Decimal("25"), concurrency_limit=5
            )
            for action in ACTIONS:
                billing.set_price(uow, action, refund_on_failure=True)
            #: Actions whose price always said "refund" during this run.
            self.refundable = set(ACTIONS)

        @rule(
            target=submitted,
            action=st.sampled_from(ACTIONS),
            idem=st.none() | st.sampled_from(["a", "b"]),
            body=st.integers(0, 2),
        )
        def submit(self, action: str, idem: str | None, body: int) -> str:
            try:
                task = tasks.submit(
                    uow, Queue(), self.key, action, {"body": body}, idempotency_key=idem
                )
            except (InsufficientCredits, ConcurrencyLimited, IdempotencyConflict):
                return ""
            return task.id

        @rule(task_id=submitted, fail=st.booleans())
        def run(self, task_id: str, fail: bool) -> None:
            if task_id:
                (bad if fail else good).run(task_id)

        @rule(task_id=submitted)
        def cancel(self, task_id: str) -> None:
            if task_id:
                tasks.settle_failure(uow, task_id, "cancelled")

        @rule(seconds=st.sampled_from([0, 1000]))
        def reap(self, seconds: int) -> None:
            reap(uow, Queue(), now=utcnow() + timedelta(seconds=seconds))

        @rule(amount=st.decimals("-30", "30", places=4))
        def grant(self, amount: Decimal) -> None:
            with contextlib.suppress(InvalidInput):
                keys.grant_credits(uow, self.key.id, amount)

        @rule(action=st.sampled_from(ACTIONS), refund=st.booleans())
        def reprice(self, action: str, refund: bool) -> None:
            billing.set_price(uow, action, refund_on_failure=refund)
            if not refund:
                self.refundable.discard(action)

        @invariant()
        def books_balance(self) -> None:
            with uow() as u:
                key = u.keys.get(self.key.id)
                assert key is not None
                entries = list(reversed(u.ledger.list_for_key(self.key.id, 500)))
                task_ids = {e.task_id for e in entries if e.task_id}
                views = {t.id: t for t in u.tasks.get_many(sorted(task_ids), self.key.id)}
            assert key.credits_balance >= 0
            running = Decimal(0)
            for entry in entries:
                running += entry.change_amount
                assert entry.balance_after == running
                assert entry.balance_after >= 0
            assert running == key.credits_balance
            for task_id, task in views.items():
                rows = [e for e in entries if e.task_id == task_id]
                kinds = sorted(e.entry_type for e in rows)
                assert kinds.count(EntryType.CONSUME) == 1
                assert kinds.count(EntryType.REFUND) <= 1
                net = sum(e.change_amount for e in rows)
                if task.status is TaskStatus.SUCCESS:
                    assert kinds == [EntryType.CONSUME] and net == -task.price
                elif EntryType.REFUND in kinds:
                    assert task.status is TaskStatus.FAILURE and net == 0
                elif task.status is TaskStatus.FAILURE and task.action in self.refundable:
                    # Failed with a refundable price: only a free task has no refund row.
                    assert task.price == 0 and net == 0

    Books.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
    run_state_machine_as_test(Books, settings=Books.TestCase.settings)
