"""Sending the callback outbox: each API process runs one ``CallbackDispatcher``.

A delivery row is written in the transaction that finishes its task (see
``db.repositories``). The dispatcher claims due rows (each process its own, on
PostgreSQL), renders a body once through the renderer its dialect registered, freezes
it, sends it through the ``CallbackSender`` and reschedules failures with backoff. A row
claimed by a process that died becomes due again when its lease runs out, so a restart
resumes every pending delivery; receivers drop repeats by ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cadenza.domain.callbacks import (
    MAX_ATTEMPTS,
    AttemptOutcome,
    CallbackDelivery,
    DeliveryStatus,
    after_attempt,
)
from cadenza.domain.tasks import TaskView, utcnow
from cadenza.services.ports import CallbackRenderer, CallbackSender, UnitOfWorkFactory

log = logging.getLogger(__name__)

#: Outcomes counted by ``on_outcome``.
DELIVERED, RETRY, FAILED = "delivered", "retry", "failed"


class CallbackRenderers:
    """``{dialect: renderer}``: each dialect registers how its callbacks look, at start-up."""

    def __init__(self) -> None:
        self._by_dialect: dict[str, CallbackRenderer] = {}

    def register(self, dialect: str, renderer: CallbackRenderer) -> None:
        if dialect in self._by_dialect and self._by_dialect[dialect] is not renderer:
            raise ValueError(f"a callback renderer for {dialect!r} is registered already")
        self._by_dialect[dialect] = renderer

    def get(self, dialect: str) -> CallbackRenderer | None:
        return self._by_dialect.get(dialect)

    def __contains__(self, dialect: object) -> bool:
        return dialect in self._by_dialect


class _Undeliverable(Exception):
    """Nothing to send, ever (the task is gone)."""


@dataclass(frozen=True)
class _Prepared:
    body: bytes
    secret: str


class CallbackDispatcher:
    """Claims, renders, sends and reschedules callback deliveries, in a loop (``start``)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        renderers: CallbackRenderers,
        sender: CallbackSender,
        *,
        interval_s: float = 1.0,
        batch: int = 20,
        lease_s: float = 120.0,
        max_attempts: int = MAX_ATTEMPTS,
        on_outcome: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        draw: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._uow = uow
        self._renderers = renderers
        self._sender = sender
        self._interval_s = interval_s
        self._batch = max(1, batch)
        self._lease = timedelta(seconds=lease_s)
        self._max_attempts = max(1, max_attempts)
        self._on_outcome = on_outcome
        self._clock = clock
        self._draw = draw
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the loop on the running event loop until ``stop``."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="callbacks")

    async def stop(self) -> None:
        """Stop the loop. Deliveries it was sending are due again when their lease ends."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        while True:
            try:
                handled = await self.run_once()
            except Exception as exc:  # the loop must outlive a database hiccup
                log.warning("callback dispatch failed: %s", exc, exc_info=True)
                handled = 0
            if handled < self._batch:
                await asyncio.sleep(self._interval_s)

    async def run_once(self) -> int:
        """Send the deliveries due now (one batch); how many were attempted."""
        claimed = await asyncio.to_thread(self._claim)
        if claimed:
            await asyncio.gather(*(self._attempt(d) for d in claimed))
        return len(claimed)

    def _claim(self) -> list[CallbackDelivery]:
        now = self._clock()
        # A read first: on SQLite a claim is a write, and most passes find nothing due.
        with self._uow(read_only=True) as u:
            if not u.callbacks.due(now):
                return []
        with self._uow() as u:
            claimed = u.callbacks.claim_due(now, now + self._lease, self._batch)
            u.commit()
        return claimed

    async def _attempt(self, delivery: CallbackDelivery) -> None:
        try:
            prepared = await asyncio.to_thread(self._prepare, delivery)
        except _Undeliverable as exc:
            await self._record(delivery, False, False, str(exc))
            return
        except Exception as exc:
            log.warning("callback %s not rendered", delivery.event_id, exc_info=True)
            await self._record(delivery, False, True, f"not rendered ({type(exc).__name__})")
            return
        try:
            delivered, retryable, error = await self._sender.send(
                delivery.url, prepared.body, delivery.event_id, prepared.secret
            )
        except Exception as exc:
            delivered, retryable, error = False, True, f"send failed ({type(exc).__name__})"
        await self._record(delivery, delivered, retryable, error)

    def _prepare(self, delivery: CallbackDelivery) -> _Prepared:
        """The frozen body (rendered now, at its first attempt) and the key's secret."""
        with self._uow(read_only=True) as u:
            key = u.keys.get(delivery.key_id)
            task = u.tasks.get(delivery.task_id) if delivery.body is None else None
            clips = u.clips.list_for_tasks([delivery.task_id]) if task is not None else []
        if key is None:
            raise _Undeliverable("the task's key is gone")
        body = delivery.body
        if body is None:
            if task is None:
                raise _Undeliverable("the task is gone")
            renderer = self._renderers.get(delivery.dialect)
            if renderer is None:
                # A process started without that dialect: another may have it; retried.
                raise LookupError(f"no callback renderer for dialect {delivery.dialect!r}")
            rendered = renderer(TaskView(task, clips))
            with self._uow() as u:
                body = u.callbacks.freeze_body(delivery.event_id, rendered, self._clock())
                u.commit()
        return _Prepared(body, key.callback_secret)

    async def _record(
        self, delivery: CallbackDelivery, delivered: bool, retryable: bool, error: str | None
    ) -> None:
        outcome = after_attempt(
            delivery.attempts,
            delivered,
            retryable,
            error,
            self._clock(),
            max_attempts=self._max_attempts,
            draw=self._draw,
        )
        try:
            await asyncio.to_thread(self._store, delivery.event_id, outcome)
        except Exception:
            # Left claimed: due again when its lease ends (a repeat, under the same id).
            log.warning("callback %s outcome not recorded", delivery.event_id, exc_info=True)
            return
        label = {
            DeliveryStatus.DELIVERED: DELIVERED,
            DeliveryStatus.PENDING: RETRY,
            DeliveryStatus.FAILED: FAILED,
        }[outcome.status]
        if outcome.status is not DeliveryStatus.DELIVERED:
            log.info(
                "callback %s of task %s: %s after attempt %d (%s)",
                delivery.event_id,
                delivery.task_id,
                label,
                delivery.attempts,
                outcome.last_error,
            )
        if self._on_outcome is not None:
            self._on_outcome(label)

    def _store(self, event_id: str, outcome: AttemptOutcome) -> None:
        with self._uow() as u:
            u.callbacks.record_attempt(
                event_id,
                status=outcome.status,
                next_attempt_at=outcome.next_attempt_at,
                last_error=outcome.last_error,
                now=self._clock(),
            )
            u.commit()
