"""A lane of its own for relayed tasks, beside the render queue.

A relayed task spends its life waiting on an upstream, so it must not hold a render slot
(a process of the pool, or a Celery worker): it runs on a thread of this process, many
at once. ``LaneQueue`` is the ``TaskQueue`` the rest of the server sees; it sends tasks
queued with a relay route down the relay lane and everything else to the render queue.

Relayed tasks share the render queue's identity (``instance``): both die with this
process, and the reaper of a live server hands out the tasks of a dead one again, whose
relay lane resumes them from their relay record.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor

from cadenza.domain.channels import is_relay_route
from cadenza.queue import QueueError
from cadenza.services.ports import TaskQueue

log = logging.getLogger(__name__)


class RelayLane:
    """Runs ``run(task_id)`` on up to ``threads`` threads; an id already held is not
    taken twice."""

    def __init__(
        self,
        run: Callable[[str], None],
        *,
        threads: int,
        on_stop: Callable[[], None] | None = None,
        on_start: Callable[[], None] | None = None,
        after_stop: Callable[[], None] | None = None,
    ) -> None:
        self._after_stop = after_stop
        self._run = run
        self._threads = threads
        self._on_stop = on_stop
        self._on_start = on_start
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._executor: ThreadPoolExecutor | None = None

    def enqueue(self, task_id: str) -> None:
        with self._lock:
            executor = self._executor
            if executor is None:
                raise QueueError("relay lane is stopped")
            if task_id in self._known:
                return
            self._known.add(task_id)
            future = executor.submit(self._run, task_id)
        future.add_done_callback(lambda done: self._done(task_id, done))

    def _done(self, task_id: str, future: Future[None]) -> None:
        with self._lock:
            self._known.discard(task_id)
        if not future.cancelled() and future.exception() is not None:
            log.error("relayed task %s raised: %r", task_id, future.exception())

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._known)

    def start(self) -> None:
        with self._lock:
            if self._executor is not None:
                return
            if self._on_start is not None:
                self._on_start()
            self._executor = ThreadPoolExecutor(
                max_workers=self._threads, thread_name_prefix="cadenza-relay"
            )

    def stop(self) -> None:
        """Relays in flight return at their next wait (``on_stop``), leaving their tasks
        as they are for the reaper to hand out again."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        if self._on_stop is not None:
            self._on_stop()
        executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._known.clear()
        if self._after_stop is not None:
            self._after_stop()


class LaneQueue:
    """The render queue, with relayed tasks sent down the relay lane."""

    def __init__(self, render: TaskQueue, relay: RelayLane) -> None:
        self.render = render
        self.relay = relay

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        if is_relay_route(route):
            self.relay.enqueue(task_id)
        else:
            self.render.enqueue(task_id, route=route)

    def start(self) -> None:
        self.render.start()
        self.relay.start()

    def stop(self) -> None:
        self.relay.stop()
        self.render.stop()

    @property
    def instance(self) -> str | None:
        return self.render.instance

    def gone(self, instances: Collection[str]) -> set[str]:
        return self.render.gone(instances)

    def __getattr__(self, name: str) -> object:
        # Introspection the health and metrics routes read from the render queue.
        return getattr(self.render, name)
