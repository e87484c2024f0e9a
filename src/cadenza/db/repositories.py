"""Repositories over one SQLAlchemy connection (the unit of work's transaction)."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from cadenza.db import tables as t
from cadenza.db.repositories_events import SqlCallbackDeliveryRepository, SqlTaskEventRepository
from cadenza.domain.actions import Price
from cadenza.domain.billing import ApiKey, EntryType, LedgerEntry, UsageRow
from cadenza.domain.callbacks import delivery_for
from cadenza.domain.errors import (
    DuplicateLedgerEntry,
    IdempotencyKeyTaken,
    InvalidInput,
    NotFound,
)
from cadenza.domain.events import TaskState, clip_event, state_of, task_events
from cadenza.domain.tasks import PREVIEW_FILE, Clip, ClipStatus, Task, TaskStatus, utcnow

_FINISHED = (TaskStatus.SUCCESS.value, TaskStatus.FAILURE.value)
_UNFINISHED = tuple(s.value for s in TaskStatus if not s.finished)

#: Seconds a price read for a submit is reused in the process that read it.
PRICE_CACHE_S = 1.0

#: The unique constraint on a key's Idempotency-Keys (named in migration 0001).
IDEMPOTENCY_INDEX = "uq_tasks_key_id_idempotency_key"

#: Most rows a reaper query returns; the rest come on its next pass.
SCAN_LIMIT = 500

# Built once: statements executed with a parameter dict skip per-call construction.
#: Arbitrary constant: the PostgreSQL advisory lock held while first-start work runs.
_BOOTSTRAP_LOCK = 7_041_917_312

_INSERT_KEY = insert(t.api_keys)
#: ``inline``: no RETURNING of the generated ``seq`` (nothing reads it), so these inserts
#: can travel in a batch of writes (``UnitOfWork.batch``) without waiting for an answer.
_INSERT_ENTRY = insert(t.ledger_entries).inline()
_INSERT_TASK = insert(t.tasks)
#: Every change to a task counts its revision up (polls answer unchanged tasks from the
#: rendering of their last revision); so does every change to one of its clips.
_UPDATE_TASK = (
    update(t.tasks).where(t.tasks.c.id == bindparam("b_id")).values(revision=t.tasks.c.revision + 1)
)
_TOUCH_TASK = (
    update(t.tasks)
    .where(t.tasks.c.id == bindparam("b_task_id"))
    .values(revision=t.tasks.c.revision + 1)
)
_KEY_BY_ID = select(t.api_keys).where(t.api_keys.c.id == bindparam("key_id"))
#: NO KEY UPDATE: the lock a change of the row's plain columns (its balance) takes anyway,
#: and one that does not wait for the KEY SHARE locks that inserting the key's tasks takes
#: (a plain FOR UPDATE after such an insert deadlocks two submits of one key).
_KEY_BY_ID_LOCKED = _KEY_BY_ID.with_for_update(key_share=True)
_KEY_BY_HASH = select(t.api_keys).where(t.api_keys.c.key_hash == bindparam("key_hash"))
_BALANCE = t.api_keys.c.credits_balance
_DEBIT = (
    update(t.api_keys)
    .where(t.api_keys.c.id == bindparam("key_id"), bindparam("amount") <= _BALANCE)
    .values(credits_balance=_BALANCE - bindparam("amount"))
    .returning(_BALANCE)
)
_PRICE = select(t.prices).where(t.prices.c.action == bindparam("action"))
_TASK_BY_ID = select(t.tasks).where(t.tasks.c.id == bindparam("task_id"))
_TASK_BY_ID_LOCKED = _TASK_BY_ID.with_for_update()
#: Counts at most ``up_to`` rows: a gateway's key may have thousands of tasks waiting, and
#: the limit check only asks whether there are as many as its limit.
_COUNT_ACTIVE = select(func.count()).select_from(
    select(t.tasks.c.id)
    .where(t.tasks.c.key_id == bindparam("key_id"), t.tasks.c.status.not_in(_FINISHED))
    .limit(bindparam("up_to"))
    .subquery()
)
_TASK_BY_IDEMPOTENCY = select(t.tasks).where(
    t.tasks.c.key_id == bindparam("key_id"),
    t.tasks.c.idempotency_key == bindparam("idempotency_key"),
)
_INSERT_CLIP = insert(t.clips).inline()
_UPDATE_CLIP = update(t.clips).where(t.clips.c.id == bindparam("b_id"))
#: What a task's events are computed from, read under the row lock just before a write.
_TASK_STATE = (
    select(t.tasks.c.status, t.tasks.c.progress, t.tasks.c.attempts)
    .where(t.tasks.c.id == bindparam("task_id"))
    .with_for_update()
)
_CLIP_STATE = select(t.clips.c.status, t.clips.c.files).where(t.clips.c.id == bindparam("clip_id"))


def key_from_row(row: Mapping[Any, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        key_hash=row["key_hash"],
        key_prefix=row["key_prefix"],
        credits_balance=row["credits_balance"],
        rate_limit_per_minute=row["rate_limit_per_minute"],
        concurrency_limit=row["concurrency_limit"],
        is_admin=bool(row["is_admin"]),
        revoked=bool(row["revoked"]),
        created_at=row["created_at"],
        callback_secret=row["callback_secret"],
    )


class SqlKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, key: ApiKey) -> None:
        self._conn.execute(
            _INSERT_KEY,
            {
                "id": key.id,
                "name": key.name,
                "key_hash": key.key_hash,
                "key_prefix": key.key_prefix,
                "credits_balance": key.credits_balance,
                "rate_limit_per_minute": key.rate_limit_per_minute,
                "concurrency_limit": key.concurrency_limit,
                "is_admin": key.is_admin,
                "revoked": key.revoked,
                "created_at": key.created_at,
                "callback_secret": key.callback_secret,
            },
        )

    def get(self, key_id: str, *, for_update: bool = False) -> ApiKey | None:
        query = _KEY_BY_ID_LOCKED if for_update else _KEY_BY_ID
        row = self._conn.execute(query, {"key_id": key_id}).mappings().first()
        return key_from_row(row) if row else None

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        row = self._conn.execute(_KEY_BY_HASH, {"key_hash": key_hash}).mappings().first()
        return key_from_row(row) if row else None

    def lock_for_bootstrap(self) -> None:
        # SQLite transactions that write begin IMMEDIATE and so are serialised already.
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BOOTSTRAP_LOCK})

    def list(self) -> list[ApiKey]:
        query = select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.id)
        return [key_from_row(row) for row in self._conn.execute(query).mappings()]

    def revoke(self, key_id: str) -> bool:
        result = self._conn.execute(
            update(t.api_keys).where(t.api_keys.c.id == key_id).values(revoked=True)
        )
        return bool(result.rowcount)

    def change(self, key_id: str, **values: Any) -> bool:
        if not values:
            return self.get(key_id) is not None
        result = self._conn.execute(
            update(t.api_keys).where(t.api_keys.c.id == key_id).values(**values)
        )
        return bool(result.rowcount)

    def debit(self, key_id: str, amount: Decimal) -> Decimal | None:
        if amount < 0:
            raise ValueError("a debit amount must not be negative")
        result = self._conn.execute(_DEBIT, {"key_id": key_id, "amount": amount})
        value: Decimal | None = result.scalar_one_or_none()
        return value

    def credit(self, key_id: str, amount: Decimal) -> Decimal:
        balance = t.api_keys.c.credits_balance
        statement = (
            update(t.api_keys)
            .where(t.api_keys.c.id == key_id)
            .values(credits_balance=balance + amount)
            .returning(balance)
        )
        try:
            # The savepoint keeps the transaction usable if the balance check refuses.
            with self._conn.begin_nested():
                value: Decimal | None = self._conn.execute(statement).scalar_one_or_none()
        except IntegrityError as exc:
            raise InvalidInput("the balance cannot go below zero") from exc
        if value is None:
            raise NotFound("API key not found")
        return value


def _price(row: RowMapping) -> Price:
    return Price(
        action=row["action"],
        display_name=row["display_name"],
        price=row["price"],
        enabled=bool(row["enabled"]),
        refund_on_failure=bool(row["refund_on_failure"]),
    )


class PriceCache:
    """Prices read recently, per process (shared by the units of work of one engine)."""

    def __init__(self, ttl_s: float = PRICE_CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Price | None]] = {}

    def get(self, action: str) -> tuple[bool, Price | None]:
        entry = self._entries.get(action)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, action: str, price: Price | None) -> None:
        self._entries[action] = (time.monotonic() + self.ttl_s, price)

    def forget(self, action: str) -> None:
        self._entries.pop(action, None)


class SqlPriceRepository:
    def __init__(self, conn: Connection, cache: PriceCache | None = None) -> None:
        self._conn = conn
        self._cache = cache or PriceCache(0.0)

    def get(self, action: str) -> Price | None:
        row = self._conn.execute(_PRICE, {"action": str(action)}).mappings().first()
        return _price(row) if row else None

    def current(self, action: str) -> Price | None:
        known, price = self._cache.get(str(action))
        if not known:
            price = self.get(action)
            self._cache.put(str(action), price)
        return price

    def list(self) -> list[Price]:
        query = select(t.prices).order_by(t.prices.c.action)
        return [_price(row) for row in self._conn.execute(query).mappings()]

    def upsert(self, price: Price) -> None:
        values: dict[str, Any] = {
            "display_name": price.display_name,
            "price": price.price,
            "enabled": price.enabled,
            "refund_on_failure": price.refund_on_failure,
        }
        self._cache.forget(str(price.action))
        result = self._conn.execute(
            update(t.prices).where(t.prices.c.action == str(price.action)).values(**values)
        )
        if not result.rowcount:
            self._conn.execute(insert(t.prices).values(action=str(price.action), **values))


def _entry(row: RowMapping) -> LedgerEntry:
    return LedgerEntry(
        id=row["id"],
        key_id=row["key_id"],
        entry_type=EntryType(row["entry_type"]),
        change_amount=row["change_amount"],
        balance_after=row["balance_after"],
        action=row["action"],
        task_id=row["task_id"],
        note=row["note"],
        created_at=row["created_at"],
    )


class SqlLedgerRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, entry: LedgerEntry) -> None:
        values = {
            "id": entry.id,
            "key_id": entry.key_id,
            "entry_type": entry.entry_type.value,
            "change_amount": entry.change_amount,
            "balance_after": entry.balance_after,
            "action": str(entry.action),
            "task_id": entry.task_id,
            "note": entry.note,
            "created_at": entry.created_at,
        }
        # A savepoint keeps the transaction usable after a duplicate refund is refused
        # (PostgreSQL aborts the whole transaction on an error otherwise). A charge is
        # written in the transaction that creates its task, where a duplicate cannot be
        # and the savepoint's two statements would be spent on every submit.
        try:
            if entry.entry_type is EntryType.CONSUME:
                self._conn.execute(_INSERT_ENTRY, values)
            else:
                with self._conn.begin_nested():
                    self._conn.execute(_INSERT_ENTRY, values)
        except IntegrityError as exc:
            if _is_ledger_duplicate(exc, entry):
                raise DuplicateLedgerEntry(
                    f"{entry.entry_type.value} already recorded for task {entry.task_id}"
                ) from exc
            raise

    def list_for_key(self, key_id: str, limit: int) -> list[LedgerEntry]:
        query = (
            select(t.ledger_entries)
            .where(t.ledger_entries.c.key_id == key_id)
            .order_by(t.ledger_entries.c.seq.desc())
            .limit(limit)
        )
        return [_entry(row) for row in self._conn.execute(query).mappings()]

    def page(
        self,
        key_id: str | None,
        *,
        limit: int,
        offset: int = 0,
        action: str | None = None,
        entry_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[LedgerEntry]:
        c = t.ledger_entries.c
        query = select(t.ledger_entries)
        if key_id is not None:
            query = query.where(c.key_id == key_id)
        if action is not None:
            query = query.where(c.action == action)
        if entry_type is not None:
            query = query.where(c.entry_type == entry_type)
        if since is not None:
            query = query.where(c.created_at >= since)
        if until is not None:
            query = query.where(c.created_at < until)
        query = query.order_by(c.seq.desc()).limit(limit).offset(offset)
        return [_entry(row) for row in self._conn.execute(query).mappings()]

    def usage(
        self,
        key_id: str | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[UsageRow]:
        c = t.ledger_entries.c
        query = select(
            c.key_id, c.action, c.entry_type, func.count(), func.sum(c.change_amount)
        ).group_by(c.key_id, c.action, c.entry_type)
        if key_id is not None:
            query = query.where(c.key_id == key_id)
        if since is not None:
            query = query.where(c.created_at >= since)
        if until is not None:
            query = query.where(c.created_at < until)
        query = query.order_by(c.key_id, c.action, c.entry_type)
        return [
            UsageRow(
                key_id=str(row[0]),
                action=str(row[1]),
                entry_type=EntryType(row[2]),
                count=int(row[3]),
                total=Decimal(row[4] or 0),
            )
            for row in self._conn.execute(query)
        ]

    def total_for_key(self, key_id: str) -> Decimal:
        """Sum of every change on a key: equals its balance when the books are right."""
        change = t.ledger_entries.c.change_amount
        query = select(func.coalesce(func.sum(change), Decimal(0))).where(
            t.ledger_entries.c.key_id == key_id
        )
        return Decimal(self._conn.execute(query).scalar_one())

    def for_task(self, task_id: str) -> list[LedgerEntry]:
        query = (
            select(t.ledger_entries)
            .where(t.ledger_entries.c.task_id == task_id)
            .order_by(t.ledger_entries.c.seq)
        )
        return [_entry(row) for row in self._conn.execute(query).mappings()]


def _is_ledger_duplicate(exc: IntegrityError, entry: LedgerEntry) -> bool:
    if entry.task_id is None or entry.entry_type not in (EntryType.CONSUME, EntryType.REFUND):
        return False
    text = str(exc.orig).lower()
    return "uq_ledger_entries_task_id_entry_type" in text or (
        "unique" in text and "task_id" in text and "entry_type" in text
    )


def _task_values(task: Task) -> dict[str, Any]:
    return {
        "key_id": task.key_id,
        "action": str(task.action),
        "params": task.params,
        "price": task.price,
        "status": task.status.value,
        "progress": task.progress,
        "fail_reason": task.fail_reason,
        "submit_time": task.submit_time,
        "start_time": task.start_time,
        "finish_time": task.finish_time,
        "heartbeat_at": task.heartbeat_at,
        "deadline": task.deadline,
        "attempts": task.attempts,
        "dispatched": task.dispatched,
        "queue_instance": task.queue_instance,
        "worker": task.worker,
        "route": task.route,
        "idempotency_key": task.idempotency_key,
        "request_hash": task.request_hash,
        "result": task.result,
        "origin": task.origin,
        "callback_url": task.callback_url,
        "callback_dialect": task.callback_dialect,
    }


def task_from_row(row: Mapping[Any, Any]) -> Task:
    return Task(
        id=row["id"],
        key_id=row["key_id"],
        action=row["action"],
        params=row["params"],
        price=row["price"],
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        fail_reason=row["fail_reason"],
        submit_time=row["submit_time"],
        start_time=row["start_time"],
        finish_time=row["finish_time"],
        heartbeat_at=row["heartbeat_at"],
        deadline=row["deadline"],
        attempts=row["attempts"],
        dispatched=bool(row["dispatched"]),
        queue_instance=row["queue_instance"],
        worker=row["worker"],
        route=row["route"],
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        result=row["result"],
        origin=row.get("origin"),
        revision=row["revision"],
        callback_url=row["callback_url"],
        callback_dialect=row["callback_dialect"],
    )


class _Outbox:
    """What a stored change owes its readers, written beside it: its task events and,
    when it finishes a task that asked for one, its callback delivery."""

    def __init__(self, conn: Connection) -> None:
        self.events = SqlTaskEventRepository(conn)
        self.deliveries = SqlCallbackDeliveryRepository(conn)

    def task_written(self, before: TaskState | None, task: Task) -> None:
        now = utcnow()
        self.events.add_all(task_events(before, task, now))
        if before is None or not before.status.finished:
            delivery = delivery_for(task, now)
            if delivery is not None:
                self.deliveries.add(delivery)

    def clip_written(
        self, before: ClipStatus | None, clip: Clip, preview_before: str | None = None
    ) -> None:
        event = clip_event(before, clip, preview_before=preview_before)
        if event is not None:
            self.events.add(event)


class SqlTaskRepository:
    """Each write also records the task's events (and a finished task's callback) in the
    same transaction (see ``domain.events``), as it counts the task's revision up."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._outbox = _Outbox(conn)
        #: Tasks this transaction holds locked, as they stand in the database.
        self._locked: dict[str, TaskState] = {}

    def add(self, task: Task) -> None:
        try:
            self._conn.execute(_INSERT_TASK, {"id": task.id, **_task_values(task)})
        except IntegrityError as exc:
            text_ = str(exc.orig).lower()
            if task.idempotency_key is not None and (
                IDEMPOTENCY_INDEX in text_ or ("unique" in text_ and "idempotency_key" in text_)
            ):
                raise IdempotencyKeyTaken(task.idempotency_key) from exc
            raise
        self._outbox.task_written(None, task)

    def get(self, task_id: str, *, for_update: bool = False) -> Task | None:
        query = _TASK_BY_ID_LOCKED if for_update else _TASK_BY_ID
        row = self._conn.execute(query, {"task_id": task_id}).mappings().first()
        if row is None:
            return None
        task = task_from_row(row)
        if for_update:
            # Locked until the transaction ends: its state now is the one ``update``
            # computes events from, with no second read.
            self._locked[task.id] = state_of(task)
        return task

    def get_many(self, task_ids: Sequence[str], key_id: str) -> list[Task]:
        if not task_ids:
            return []
        query = select(t.tasks).where(t.tasks.c.id.in_(list(task_ids)), t.tasks.c.key_id == key_id)
        return [task_from_row(row) for row in self._conn.execute(query).mappings()]

    def list_for_key(
        self,
        key_id: str,
        *,
        limit: int,
        offset: int = 0,
        submitted_after: datetime | None = None,
        submitted_before: datetime | None = None,
    ) -> list[Task]:
        query = select(t.tasks).where(t.tasks.c.key_id == key_id)
        if submitted_after is not None:
            query = query.where(t.tasks.c.submit_time >= submitted_after)
        if submitted_before is not None:
            query = query.where(t.tasks.c.submit_time <= submitted_before)
        query = query.order_by(t.tasks.c.submit_time.desc(), t.tasks.c.id).limit(limit)
        query = query.offset(offset)
        return [task_from_row(row) for row in self._conn.execute(query).mappings()]

    def page_for_key(
        self,
        key_id: str,
        *,
        limit: int,
        offset: int = 0,
        status: str | None = None,
        action: str | None = None,
    ) -> list[Task]:
        query = select(t.tasks).where(t.tasks.c.key_id == key_id)
        if status is not None:
            query = query.where(t.tasks.c.status == status)
        if action is not None:
            query = query.where(t.tasks.c.action == action)
        query = query.order_by(t.tasks.c.submit_time.desc(), t.tasks.c.id.desc())
        query = query.limit(limit).offset(offset)
        return [task_from_row(row) for row in self._conn.execute(query).mappings()]

    def revisions(self, task_ids: Sequence[str], key_id: str) -> dict[str, int]:
        if not task_ids:
            return {}
        query = select(t.tasks.c.id, t.tasks.c.revision).where(
            t.tasks.c.id.in_(list(task_ids)), t.tasks.c.key_id == key_id
        )
        return {str(row[0]): int(row[1]) for row in self._conn.execute(query)}

    def update(self, task: Task) -> None:
        before = self._locked.get(task.id)
        if before is None:
            # Read under the row lock, which the update takes anyway.
            row = self._conn.execute(_TASK_STATE, {"task_id": task.id}).first()
            if row is None:
                raise NotFound("task not found")
            before = TaskState(TaskStatus(row[0]), int(row[1]), int(row[2]))
        result = self._conn.execute(_UPDATE_TASK, {"b_id": task.id, **_task_values(task)})
        if not result.rowcount:
            raise NotFound("task not found")
        self._locked[task.id] = state_of(task)
        self._outbox.task_written(before, task)

    def count_active(self, key_id: str, up_to: int | None = None) -> int:
        limit = up_to if up_to is not None else 2**62
        values = {"key_id": key_id, "up_to": max(0, limit)}
        return int(self._conn.execute(_COUNT_ACTIVE, values).scalar_one())

    def find_by_idempotency(self, key_id: str, idempotency_key: str) -> Task | None:
        values = {"key_id": key_id, "idempotency_key": idempotency_key}
        row = self._conn.execute(_TASK_BY_IDEMPOTENCY, values).mappings().first()
        return task_from_row(row) if row else None

    def find_expired(self, now: datetime, limit: int = SCAN_LIMIT) -> list[Task]:
        query = (
            select(t.tasks)
            .where(
                t.tasks.c.status.not_in(_FINISHED),
                t.tasks.c.deadline.is_not(None),
                t.tasks.c.deadline < now,
            )
            .order_by(t.tasks.c.deadline)
            .limit(limit)
        )
        return [task_from_row(row) for row in self._conn.execute(query).mappings()]

    def beat(self, task_id: str, now: datetime) -> bool:
        result = self._conn.execute(
            update(t.tasks)
            .where(t.tasks.c.id == task_id, t.tasks.c.status == TaskStatus.IN_PROGRESS.value)
            .values(heartbeat_at=now)
        )
        return bool(result.rowcount)

    def find_stalled(self, silent_since: datetime, limit: int = SCAN_LIMIT) -> list[Task]:
        last_sign = func.coalesce(t.tasks.c.heartbeat_at, t.tasks.c.start_time)
        query = (
            select(t.tasks)
            .where(
                t.tasks.c.status == TaskStatus.IN_PROGRESS.value,
                last_sign < silent_since,
            )
            .order_by(last_sign)
            .limit(limit)
        )
        return [task_from_row(row) for row in self._conn.execute(query).mappings()]

    def find_undispatched(self, older_than: datetime, limit: int = SCAN_LIMIT) -> list[Task]:
        query = (
            select(t.tasks)
            .where(
                t.tasks.c.status.not_in(_FINISHED),
                t.tasks.c.dispatched.is_(False),
                t.tasks.c.submit_time < older_than,
            )
            .order_by(t.tasks.c.submit_time)
            .limit(limit)
        )
        return [task_from_row(row) for row in self._conn.execute(query).mappings()]

    def queue_instances(self) -> set[str]:
        query = (
            select(t.tasks.c.queue_instance)
            .distinct()
            .where(t.tasks.c.status.in_(_UNFINISHED), t.tasks.c.queue_instance.is_not(None))
        )
        return {str(value) for value in self._conn.execute(query).scalars()}

    def find_held_by(self, instances: Collection[str], limit: int = SCAN_LIMIT) -> list[Task]:
        if not instances:
            return []
        query = (
            select(t.tasks)
            .where(
                t.tasks.c.status.in_(_UNFINISHED),
                t.tasks.c.queue_instance.in_(sorted(instances)),
            )
            .order_by(t.tasks.c.submit_time)
            .limit(limit)
        )
        return [task_from_row(row) for row in self._conn.execute(query).mappings()]


def _clip_values(clip: Clip) -> dict[str, Any]:
    return {
        "task_id": clip.task_id,
        "key_id": clip.key_id,
        "title": clip.title,
        "tags": clip.tags,
        "negative_tags": clip.negative_tags,
        "prompt": clip.prompt,
        "gpt_description_prompt": clip.gpt_description_prompt,
        "lyrics": clip.lyrics,
        "model_name": clip.model_name,
        "major_model_version": clip.major_model_version,
        "status": clip.status.value,
        "duration": clip.duration,
        "audio_key": clip.audio_key,
        "image_key": clip.image_key,
        "image_large_key": clip.image_large_key,
        "video_key": clip.video_key,
        "files": clip.files,
        "metadata": clip.metadata,
        "error_message": clip.error_message,
        "created_at": clip.created_at,
    }


def clip_from_row(row: Mapping[Any, Any]) -> Clip:
    return Clip(
        id=row["id"],
        task_id=row["task_id"],
        key_id=row["key_id"],
        title=row["title"],
        tags=row["tags"],
        negative_tags=row["negative_tags"],
        prompt=row["prompt"],
        gpt_description_prompt=row["gpt_description_prompt"],
        lyrics=row["lyrics"],
        model_name=row["model_name"],
        major_model_version=row["major_model_version"],
        status=ClipStatus(row["status"]),
        duration=row["duration"],
        audio_key=row["audio_key"],
        image_key=row["image_key"],
        image_large_key=row["image_large_key"],
        video_key=row["video_key"],
        files=dict(row["files"] or {}),
        metadata=dict(row["metadata"] or {}),
        error_message=row["error_message"],
        created_at=row["created_at"],
    )


class SqlClipRepository:
    """A clip that becomes ready or fails records a ``clip`` event of its task, one that
    gets a new preview while streaming a ``preview`` event, after the task's row is
    touched (and so locked)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._outbox = _Outbox(conn)

    def add(self, clip: Clip) -> None:
        self.add_many([clip])

    def add_many(self, clips: Sequence[Clip]) -> None:
        if not clips:
            return
        self._conn.execute(_INSERT_CLIP, [{"id": c.id, **_clip_values(c)} for c in clips])
        for task_id in dict.fromkeys(c.task_id for c in clips):
            self._conn.execute(_TOUCH_TASK, {"b_task_id": task_id})
        for clip in clips:
            self._outbox.clip_written(None, clip)

    def get(self, clip_id: str) -> Clip | None:
        query = select(t.clips).where(t.clips.c.id == clip_id)
        row = self._conn.execute(query).mappings().first()
        return clip_from_row(row) if row else None

    def list_for_tasks(self, task_ids: Sequence[str]) -> list[Clip]:
        if not task_ids:
            return []
        query = select(t.clips).where(t.clips.c.task_id.in_(list(task_ids))).order_by(t.clips.c.seq)
        return [clip_from_row(row) for row in self._conn.execute(query).mappings()]

    def page_for_key(
        self,
        key_id: str,
        *,
        limit: int,
        offset: int = 0,
        status: str | None = None,
        action: str | None = None,
    ) -> list[Clip]:
        query = select(t.clips).where(t.clips.c.key_id == key_id)
        if status is not None:
            query = query.where(t.clips.c.status == status)
        if action is not None:
            # A join, not IN (subquery): PostgreSQL walks the key's clips newest first and
            # stops at the page instead of hashing every task of the action first.
            query = query.join(t.tasks, t.tasks.c.id == t.clips.c.task_id).where(
                t.tasks.c.action == action
            )
        query = query.order_by(t.clips.c.seq.desc()).limit(limit).offset(offset)
        return [clip_from_row(row) for row in self._conn.execute(query).mappings()]

    def update(self, clip: Clip) -> None:
        stored = self._conn.execute(_CLIP_STATE, {"clip_id": clip.id}).first()
        if stored is None:
            raise NotFound("clip not found")
        self._conn.execute(_UPDATE_CLIP, {"b_id": clip.id, **_clip_values(clip)})
        self._conn.execute(_TOUCH_TASK, {"b_task_id": clip.task_id})
        files = stored.files if isinstance(stored.files, dict) else {}
        self._outbox.clip_written(ClipStatus(stored.status), clip, files.get(PREVIEW_FILE))
