"""The outbox tables: task events and callback deliveries.

The task and clip repositories write both as part of each change they store (see
``SqlTaskRepository.update``), so a change and what it owes readers commit or roll back
together. Every write of a task's events holds the task's row lock (an update of the
task, or its insert), so on PostgreSQL a task's events take their ``seq`` in commit order
and a reader's cursor never passes one still uncommitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from cadenza.db import tables as t
from cadenza.domain.callbacks import CallbackDelivery, DeliveryStatus
from cadenza.domain.events import EventKind, TaskEvent
from cadenza.domain.tasks import TaskStatus

_FINISHED = (TaskStatus.SUCCESS.value, TaskStatus.FAILURE.value)

#: ``inline``: no RETURNING of the new ``seq``, so the insert can travel in a batch of
#: writes (``UnitOfWork.batch``) without waiting for an answer.
_INSERT_EVENT = insert(t.task_events).inline()
_EVENTS_AFTER = (
    select(t.task_events)
    .where(t.task_events.c.task_id == bindparam("task_id"), t.task_events.c.seq > bindparam("seq"))
    .order_by(t.task_events.c.seq)
    .limit(bindparam("limit"))
)
_LATEST_SEQ = select(func.max(t.task_events.c.seq)).where(
    t.task_events.c.task_id == bindparam("task_id")
)
_INSERT_DELIVERY = insert(t.callback_deliveries)


def event_from_row(row: Mapping[Any, Any]) -> TaskEvent:
    return TaskEvent(
        task_id=row["task_id"],
        key_id=row["key_id"],
        kind=EventKind(row["kind"]),
        payload=dict(row["payload"] or {}),
        created_at=row["created_at"],
        seq=int(row["seq"]),
    )


class SqlTaskEventRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, event: TaskEvent) -> None:
        self.add_all([event])

    def add_all(self, events: Sequence[TaskEvent]) -> None:
        if not events:
            return
        rows = [
            {
                "task_id": event.task_id,
                "key_id": event.key_id,
                "kind": event.kind.value,
                "payload": event.payload,
                "created_at": event.created_at,
            }
            for event in events
        ]
        self._conn.execute(_INSERT_EVENT, rows)

    def after(self, task_id: str, seq: int, limit: int = 100) -> list[TaskEvent]:
        values = {"task_id": task_id, "seq": seq, "limit": max(1, limit)}
        return [event_from_row(r) for r in self._conn.execute(_EVENTS_AFTER, values).mappings()]

    def latest_seq(self, task_id: str) -> int:
        value = self._conn.execute(_LATEST_SEQ, {"task_id": task_id}).scalar_one_or_none()
        return int(value or 0)

    def prune(self, finished_before: datetime, limit: int = 5000) -> int:
        events, tasks = t.task_events, t.tasks
        doomed = (
            select(events.c.seq)
            .join(tasks, tasks.c.id == events.c.task_id)
            .where(
                events.c.created_at < finished_before,
                tasks.c.status.in_(_FINISHED),
                tasks.c.finish_time < finished_before,
            )
            .order_by(events.c.seq)
            .limit(limit)
        )
        seqs = list(self._conn.execute(doomed).scalars())
        if not seqs:
            return 0
        self._conn.execute(delete(events).where(events.c.seq.in_(seqs)))
        return len(seqs)


def delivery_from_row(row: Mapping[Any, Any]) -> CallbackDelivery:
    body = row["body"]
    return CallbackDelivery(
        event_id=row["event_id"],
        task_id=row["task_id"],
        key_id=row["key_id"],
        url=row["url"],
        dialect=row["dialect"],
        body=bytes(body) if body is not None else None,
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        status=DeliveryStatus(row["status"]),
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        delivered_at=row["delivered_at"],
    )


class SqlCallbackDeliveryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, delivery: CallbackDelivery) -> None:
        self._conn.execute(
            _INSERT_DELIVERY,
            {
                "event_id": delivery.event_id,
                "task_id": delivery.task_id,
                "key_id": delivery.key_id,
                "url": delivery.url,
                "dialect": delivery.dialect,
                "body": delivery.body,
                "attempts": delivery.attempts,
                "next_attempt_at": delivery.next_attempt_at,
                "status": delivery.status.value,
                "last_error": delivery.last_error,
                "created_at": delivery.created_at,
                "updated_at": delivery.updated_at,
                "delivered_at": delivery.delivered_at,
            },
        )

    def get(self, event_id: str) -> CallbackDelivery | None:
        query = select(t.callback_deliveries).where(t.callback_deliveries.c.event_id == event_id)
        row = self._conn.execute(query).mappings().first()
        return delivery_from_row(row) if row else None

    def for_task(self, task_id: str) -> list[CallbackDelivery]:
        table = t.callback_deliveries
        query = select(table).where(table.c.task_id == task_id).order_by(table.c.seq)
        return [delivery_from_row(row) for row in self._conn.execute(query).mappings()]

    def due(self, now: datetime) -> bool:
        table = t.callback_deliveries
        query = (
            select(table.c.seq)
            .where(table.c.status == DeliveryStatus.PENDING.value, table.c.next_attempt_at <= now)
            .limit(1)
        )
        return self._conn.execute(query).first() is not None

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[CallbackDelivery]:
        table = t.callback_deliveries
        due = (
            select(table)
            .where(table.c.status == DeliveryStatus.PENDING.value, table.c.next_attempt_at <= now)
            .order_by(table.c.next_attempt_at)
            .limit(limit)
            # Several API processes share the work on PostgreSQL: each takes rows no other
            # holds. (Ignored on SQLite, where one writer runs at a time anyway.)
            .with_for_update(skip_locked=True)
        )
        rows = [delivery_from_row(row) for row in self._conn.execute(due).mappings()]
        if rows:
            # Counted as it starts: a delivery whose sender dies with it still ends.
            self._conn.execute(
                update(table)
                .where(table.c.event_id.in_([d.event_id for d in rows]))
                .values(next_attempt_at=lease_until, attempts=table.c.attempts + 1, updated_at=now)
            )
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = lease_until
        return rows

    def freeze_body(self, event_id: str, body: bytes, now: datetime) -> bytes:
        table = t.callback_deliveries
        self._conn.execute(
            update(table)
            .where(table.c.event_id == event_id, table.c.body.is_(None))
            .values(body=body, updated_at=now)
        )
        kept = self._conn.execute(
            select(table.c.body).where(table.c.event_id == event_id)
        ).scalar_one_or_none()
        return bytes(kept) if kept is not None else body

    def record_attempt(
        self,
        event_id: str,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime,
        last_error: str,
        now: datetime,
    ) -> None:
        table = t.callback_deliveries
        self._conn.execute(
            update(table)
            .where(table.c.event_id == event_id, table.c.status == DeliveryStatus.PENDING.value)
            .values(
                status=status.value,
                next_attempt_at=next_attempt_at,
                last_error=last_error,
                updated_at=now,
                delivered_at=now if status is DeliveryStatus.DELIVERED else None,
            )
        )
