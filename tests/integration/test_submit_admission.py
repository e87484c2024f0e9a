"""A submit's admission on both databases: every refusal leaves nothing behind (no task,
no charge, the key's lock free for the next submit), and a retry under a used
Idempotency-Key answers its task whatever has changed since.

On PostgreSQL the admission runs as one function sent with the COMMIT, and the task's
writes are batched before it; these tests pin that both paths refuse alike.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from cadenza.db import create_engine_for, migrate, tables, uow_factory
from cadenza.db import uow as uow_module
from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.errors import (
    ConcurrencyLimited,
    Forbidden,
    IdempotencyConflict,
    InsufficientCredits,
    Unauthorized,
)
from cadenza.services import billing, keys, tasks
from cadenza.services.ports import UnitOfWorkFactory


class NullQueue:
    """A broker's queue that takes every task (nothing runs them here)."""

    instance: str | None = None

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def gone(self, instances: Collection[str]) -> set[str]:
        return set()


BODY = {"prompt": "a song about waiting", "tags": "folk"}


@pytest.fixture(
    scope="module", params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"]
)
def engine(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: Callable[[str], AbstractContextManager[str]],
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('admission') / 'cadenza.db'}"
        migrate(url)
        engine = create_engine_for(url)
        yield engine
        engine.dispose()
        return
    with postgres_database("cadenza_admission") as url:
        migrate(url)
        engine = create_engine_for(url)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def uow(engine: Engine) -> UnitOfWorkFactory:
    factory = uow_factory(engine)
    billing.seed_prices(factory)
    billing.set_price(factory, Action.MUSIC, price=Decimal("10"), enabled=True)
    return factory


def rows(engine: Engine, key: ApiKey) -> tuple[int, int, int]:
    """The key's tasks, clips and ledger entries."""
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).where(table.c.key_id == key.id)).scalar_one()
            for table in (tables.tasks, tables.clips, tables.ledger_entries)
        )


def balance(uow: UnitOfWorkFactory, key: ApiKey) -> Decimal:
    with uow(read_only=True) as u:
        stored = u.keys.get(key.id)
        assert stored is not None
        return stored.credits_balance


def test_an_admitted_submit_writes_its_task_clips_and_charge(
    uow: UnitOfWorkFactory, engine: Engine
) -> None:
    key, _ = keys.create_key(uow, name="plain", credits=Decimal(25))
    task = tasks.submit_music(uow, NullQueue(), key, BODY)
    assert rows(engine, key) == (1, 2, 2)  # the credit grant and the charge
    assert balance(uow, key) == Decimal(15)
    [charge] = [e for e in billing.transactions(uow, key) if e.task_id == task.id]
    assert charge.change_amount == Decimal(-10) and charge.balance_after == Decimal(15)


@pytest.mark.parametrize("refusal", ["credits", "concurrency", "revoked"])
def test_a_refused_submit_leaves_nothing_and_frees_the_key(
    uow: UnitOfWorkFactory, engine: Engine, refusal: str
) -> None:
    credits = Decimal(5) if refusal == "credits" else Decimal(100)
    key, _ = keys.create_key(uow, name=refusal, credits=credits, concurrency_limit=1)
    if refusal == "concurrency":
        tasks.submit_music(uow, NullQueue(), key, BODY)
    if refusal == "revoked":
        keys.revoke_key(uow, key.id)
    before = rows(engine, key)
    expected = {
        "credits": InsufficientCredits,
        "concurrency": ConcurrencyLimited,
        "revoked": Unauthorized,
    }[refusal]
    with pytest.raises(expected) as caught:
        tasks.submit_music(uow, NullQueue(), key, BODY, idempotency_key="k-1")
    if refusal == "concurrency":
        assert "limit 1" in caught.value.message
    if refusal == "credits":
        assert caught.value.message == "insufficient credits: MUSIC costs 10.0000"
    assert rows(engine, key) == before
    # The key's row is not left locked: a top-up (which locks it) goes through at once.
    if refusal != "revoked":
        keys.grant_credits(uow, key.id, Decimal(1))


def test_an_idempotent_retry_gets_its_task_even_after_the_price_is_disabled(
    uow: UnitOfWorkFactory, engine: Engine
) -> None:
    key, _ = keys.create_key(uow, name="retry", credits=Decimal(100))
    first = tasks.submit_music(uow, NullQueue(), key, BODY, idempotency_key="same")
    again = tasks.submit_music(uow, NullQueue(), key, BODY, idempotency_key="same")
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict):
        tasks.submit_music(uow, NullQueue(), key, {**BODY, "tags": "rock"}, idempotency_key="same")
    billing.set_price(uow, Action.MUSIC, enabled=False)
    try:
        assert tasks.submit_music(uow, NullQueue(), key, BODY, idempotency_key="same").id == (
            first.id
        )
        with pytest.raises(Forbidden):
            tasks.submit_music(uow, NullQueue(), key, BODY, idempotency_key="other")
    finally:
        billing.set_price(uow, Action.MUSIC, enabled=True)
    assert rows(engine, key) == (1, 2, 2)
    assert balance(uow, key) == Decimal(90)


def test_an_edit_with_one_clip_is_admitted_too(uow: UnitOfWorkFactory, engine: Engine) -> None:
    """One clip and one event: single-row inserts, which must not wait for an answer."""
    key, _ = keys.create_key(uow, name="one-clip", credits=Decimal(100))
    task = tasks.submit(uow, NullQueue(), key, "CROP", {"x": 1}, clip_count=1)
    assert rows(engine, key) == (1, 1, 2)
    assert task.price == balance_change(uow, key)


def balance_change(uow: UnitOfWorkFactory, key: ApiKey) -> Decimal:
    return Decimal(100) - balance(uow, key)


@pytest.fixture(params=["flush mark", "synchronous commit"])
def admission(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """PostgreSQL admits with an asynchronous commit and a flush mark after it where the
    role may write one, else with a synchronous commit: both must admit and refuse alike
    (SQLite takes neither and must be unaffected)."""
    monkeypatch.setattr(uow_module, "_MARK_ALLOWED", request.param == "flush mark")
    return str(request.param)


def test_both_commit_paths_admit_and_refuse_alike(
    uow: UnitOfWorkFactory, engine: Engine, admission: str
) -> None:
    key, _ = keys.create_key(uow, name=admission, credits=Decimal(15), concurrency_limit=1)
    task = tasks.submit_music(uow, NullQueue(), key, BODY)
    assert balance(uow, key) == Decimal(5)
    with pytest.raises(ConcurrencyLimited):
        tasks.submit_music(uow, NullQueue(), key, BODY)
    assert rows(engine, key) == (1, 2, 2)
    with engine.connect() as conn:
        stored = conn.execute(select(tables.tasks.c.id).where(tables.tasks.c.key_id == key.id))
        assert stored.scalar_one() == task.id
    keys.grant_credits(uow, key.id, Decimal(1))  # the key's row is free
