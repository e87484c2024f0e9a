"""Ledger invariants under random operation sequences (hypothesis stateful), on SQLite and
on PostgreSQL.

A model of one key's books runs beside the real services. After every step:

* the balance is never negative and equals both the sum of the key's ledger entries and
  the model's balance (start + grants - charges + refunds);
* each ``balance_after`` is the running sum of the entries up to it;
* every accepted task has exactly one charge, of the price it was accepted at, and at most
  one refund, of that same amount;
* a task that fails while its action refunds (and was not free) is refunded: it nets 0;
  one that fails while its action does not refund keeps its charge; a successful or an
  unfinished task is never refunded; a finished task stays as it finished;
* a submit is refused only for a reason that holds (disabled action, the key's concurrency
  limit reached, too few credits, an Idempotency-Key reused with another body), and an
  Idempotency-Key reused with the same body gives back the same task without a charge.

The operations: submits (with and without Idempotency-Keys), runs that succeed, fail or
crash mid-render (the process dies: the task stays IN_PROGRESS for a retry, the reaper, or
the attempts cap), cancels, reaper rounds (now, after a worker went silent, after the
deadline), grants and removals of credits, and price changes (amount, enabled, refund).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
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
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select

from cadenza.db import create_engine_for, migrate, uow_factory
from cadenza.db.tables import ledger_entries as ledger
from cadenza.domain.actions import DEFAULT_PRICES
from cadenza.domain.billing import EntryType
from cadenza.domain.errors import (
    ConcurrencyLimited,
    EngineError,
    Forbidden,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
)
from cadenza.domain.tasks import TaskStatus, utcnow
from cadenza.services import billing, keys, tasks
from cadenza.services.ports import ProgressCallback, UnitOfWorkFactory
from cadenza.services.reaper import reap
from cadenza.services.worker import TaskRunner

#: A priced action, one with a fractional price and a free one.
ACTIONS = ("MUSIC", "UPSAMPLE_TAGS", "PLAYLIST")
#: Each sequence starts from a new key: 12 credits pay for one music task and a little,
#: so sequences run out of credits, and four running tasks fill its concurrency limit.
START_CREDITS = Decimal("12")
CONCURRENCY = 4
MAX_ATTEMPTS = 2
#: Per database, 50 sequences of up to 50 operations (about 2,500 steps, each followed by
#: the full check). Sized so that most runs catch, on each database, each of these
#: deliberate bugs: a refund of the current price instead of the one charged, a poison
#: task given up without a refund, one task over the concurrency limit, an
#: Idempotency-Key answered for another body, an overdraft, a second refund, a refund
#: that ignores the price's policy, a wrong balance_after. About 9 s on SQLite and 20 s on
#: PostgreSQL on a quiet two-core machine; a failure spends up to minutes more shrinking.
EXAMPLES = 50
STEPS = 50
#: Far more ledger rows than a sequence can write (one per step, or one per running
#: task for a reaper round).
LEDGER_ROWS = 10 * STEPS


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


class Crash(BaseException):
    """The worker process dies mid-render: nothing in the runner gets to settle the task."""


class Engine_:
    name = "scripted"

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: ProgressCallback
    ) -> list[dict[str, Any]]:
        if self.outcome == "fail":
            raise EngineError("scripted failure")
        if self.outcome == "crash":
            raise Crash
        song = workdir / "song.mp3"
        song.write_bytes(b"ID3")
        return [{"files": {"song.mp3": str(song)}, "meta": {"duration": 1.0}}]


@dataclass(frozen=True)
class Tariff:
    amount: Decimal
    enabled: bool = True
    refund: bool = True


DEFAULTS = {p.action: Tariff(p.price) for p in DEFAULT_PRICES if p.action in ACTIONS}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_database: Callable[[str], AbstractContextManager[str]],
) -> Iterator[Engine]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'cadenza.db'}"
        else:
            url = stack.enter_context(postgres_database("cadenza_books"))
        migrate(url)
        eng = create_engine_for(url)
        stack.callback(eng.dispose)
        billing.seed_prices(uow_factory(eng))
        yield eng


def test_ledger_invariants_hold(engine: Engine, tmp_path: Path) -> None:
    uow: UnitOfWorkFactory = uow_factory(engine)
    storage = Storage()

    def runner(outcome: str) -> TaskRunner:
        scripted = Engine_(outcome)
        return TaskRunner(
            uow, storage, lambda action: scripted, work_root=tmp_path, max_attempts=MAX_ATTEMPTS
        )

    runners = {outcome: runner(outcome) for outcome in ("ok", "fail", "crash")}

    class Books(RuleBasedStateMachine):
        submitted = Bundle("submitted")

        def __init__(self) -> None:
            super().__init__()
            self.key, _ = keys.create_key(
                uow, name="books", credits=START_CREDITS, concurrency_limit=CONCURRENCY
            )
            # The price table is shared by every sequence: each one starts from the defaults.
            self.tariffs = dict(DEFAULTS)
            for action, tariff in self.tariffs.items():
                billing.set_price(
                    uow, action, price=tariff.amount, enabled=True, refund_on_failure=True
                )
            #: What the balance must be: start + grants - charges + refunds.
            self.balance = START_CREDITS
            #: Accepted tasks: the price each was charged, its status when last seen,
            #: and whether it has been refunded.
            self.price: dict[str, Decimal] = {}
            self.action: dict[str, str] = {}
            self.status: dict[str, TaskStatus] = {}
            self.refunded: set[str] = set()
            #: Idempotency-Key -> (action, body, task id) of the task it created.
            self.idempotent: dict[str, tuple[str, int, str]] = {}

        def _active(self) -> int:
            return sum(not s.finished for s in self.status.values())

        @rule(
            target=submitted,
            action=st.sampled_from(ACTIONS),
            idem=st.sampled_from([None, None, None, "a", "b"]),
            body=st.integers(0, 1),
            retry=st.booleans(),
        )
        def submit(self, action: str, idem: str | None, body: int, retry: bool) -> Any:
            earlier = self.idempotent.get(idem) if idem else None
            if earlier is not None and retry:  # a client retrying the request it made
                action, body = earlier[0], earlier[1]
            tariff = self.tariffs[action]
            try:
                task = tasks.submit(
                    uow, Queue(), self.key, action, {"body": body}, idempotency_key=idem
                )
            except IdempotencyConflict:
                assert earlier is not None and earlier[:2] != (action, body)
                return multiple()
            except Forbidden:
                assert earlier is None and not tariff.enabled
                return multiple()
            except ConcurrencyLimited:
                assert earlier is None and tariff.enabled and self._active() >= CONCURRENCY
                return multiple()
            except InsufficientCredits:
                assert earlier is None and tariff.enabled and self._active() < CONCURRENCY
                assert self.balance < tariff.amount
                return multiple()
            if earlier is not None:
                # The same request again: the same task back, no second charge.
                assert earlier == (action, body, task.id)
                return multiple()
            assert tariff.enabled and self._active() < CONCURRENCY
            assert self.balance >= tariff.amount
            assert task.price == tariff.amount
            self.balance -= tariff.amount
            self.price[task.id] = tariff.amount
            self.action[task.id] = action
            self.status[task.id] = task.status
            if idem:
                self.idempotent[idem] = (action, body, task.id)
            return task.id

        @rule(task_id=submitted, outcome=st.sampled_from(["ok", "fail", "crash"]))
        def run(self, task_id: str, outcome: str) -> None:
            with contextlib.suppress(Crash):
                runners[outcome].run(task_id)

        @rule(task_id=submitted, deliveries=st.integers(1, MAX_ATTEMPTS + 1))
        def poison(self, task_id: str, deliveries: int) -> None:
            """Every worker the task is handed to dies mid-render."""
            for _ in range(deliveries):
                with contextlib.suppress(Crash):
                    runners["crash"].run(task_id)

        @precondition(lambda self: TaskStatus.IN_PROGRESS in self.status.values())
        @rule(outcome=st.sampled_from(["ok", "fail", "crash"]), pick=st.integers(0, 7))
        def redeliver(self, outcome: str, pick: int) -> None:
            """The queue hands a task whose worker died to a worker again."""
            # In submit order: task ids are random, and a replayed sequence must pick the same.
            stuck = [t for t, s in self.status.items() if s is TaskStatus.IN_PROGRESS]
            with contextlib.suppress(Crash):
                runners[outcome].run(stuck[pick % len(stuck)])

        @rule(task_id=submitted)
        def cancel(self, task_id: str) -> None:
            finished = self.status[task_id].finished
            assert tasks.settle_failure(uow, task_id, "cancelled") is not finished

        # 0: nothing is due; 200: silent workers' tasks are handed out again; 1000: every
        # unfinished task is past its deadline.
        @rule(seconds=st.sampled_from([0, 200, 1000]))
        def reap(self, seconds: int) -> None:
            reap(uow, Queue(), now=utcnow() + timedelta(seconds=seconds))

        @rule(amount=st.decimals("-30", "30", places=4))
        def grant(self, amount: Decimal) -> None:
            try:
                keys.grant_credits(uow, self.key.id, amount)
            except InvalidInput:
                assert amount == 0 or self.balance + amount < 0
                return
            self.balance += amount

        @rule(
            action=st.sampled_from(ACTIONS),
            amount=st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(7), Decimal(10)]),
            enabled=st.sampled_from([None, None, True, False]),
            refund=st.sampled_from([None, None, True, False]),
        )
        def reprice(
            self, action: str, amount: Decimal, enabled: bool | None, refund: bool | None
        ) -> None:
            billing.set_price(uow, action, price=amount, enabled=enabled, refund_on_failure=refund)
            old = self.tariffs[action]
            self.tariffs[action] = replace(
                old,
                amount=amount,
                enabled=old.enabled if enabled is None else enabled,
                refund=old.refund if refund is None else refund,
            )

        @invariant()
        def books_balance(self) -> None:
            with uow() as u:
                key = u.keys.get(self.key.id)
                assert key is not None
                entries = list(reversed(u.ledger.list_for_key(self.key.id, LEDGER_ROWS)))
                found = {t.id: t for t in u.tasks.get_many(sorted(self.price), self.key.id)}
            with engine.connect() as conn:  # the database's own sum of the key's entries
                total = conn.execute(
                    select(func.coalesce(func.sum(ledger.c.change_amount), 0)).where(
                        ledger.c.key_id == self.key.id
                    )
                ).scalar_one()
            assert len(entries) < LEDGER_ROWS
            assert key.credits_balance >= 0
            running = Decimal(0)
            for entry in entries:
                running += entry.change_amount
                assert entry.balance_after == running, entry
                assert entry.balance_after >= 0, entry
            assert running == total == key.credits_balance
            assert {e.task_id for e in entries if e.task_id} <= set(self.price)
            assert set(found) == set(self.price)
            for task_id, task in found.items():
                price = self.price[task_id]
                rows = [e for e in entries if e.task_id == task_id]
                charges = [e.change_amount for e in rows if e.entry_type is EntryType.CONSUME]
                refunds = [e.change_amount for e in rows if e.entry_type is EntryType.REFUND]
                assert len(rows) == len(charges) + len(refunds), rows
                assert charges == [-price], rows
                assert refunds in ([], [price]), rows
                before = self.status[task_id]
                if before.finished:
                    assert task.status is before, "a finished task changed"
                    assert bool(refunds) == (task_id in self.refunded), "refund after the end"
                    continue
                self.status[task_id] = task.status
                if task.status is TaskStatus.FAILURE:
                    # Failed during the last step, under the prices of now.
                    due = price > 0 and self.tariffs[self.action[task_id]].refund
                    assert bool(refunds) == due, (task, rows)
                    if due:
                        assert sum(e.change_amount for e in rows) == 0
                        self.refunded.add(task_id)
                        self.balance += price
                else:
                    assert refunds == [], (task, rows)
            assert key.credits_balance == self.balance

    run_state_machine_as_test(
        Books,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
            print_blob=True,
        ),
    )
