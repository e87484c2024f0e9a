"""Runs tasks in a pool of child processes of this server: the single-machine default.

Renders are CPU-bound and may crash natively (a SoundFont synth, a vocoder), so they run
in spawned processes: a crash or ``kill -9`` costs one pool, never the API process.

The tasks it holds die with the server process, so each start has an identity (see
``presence``), recorded on the tasks handed to it: once that start is gone, the reaper of
a live server hands them out again.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from cadenza.lifeline import exit_with_parent
from cadenza.queue import QueueError
from cadenza.queue.presence import Presence

log = logging.getLogger(__name__)

_STOP = object()
#: How long futures of a broken pool may take to be failed by the pool itself before they
#: are declared orphaned (CPython 3.11 can lose a future submitted while the pool breaks).
ORPHAN_GRACE_S = 5.0
#: How often the idle dispatcher looks for a pool broken while no task was running.
HEALTH_CHECK_S = 1.0
#: Scheduling niceness of the worker processes (and the render processes they start).
#: Renders keep every core busy for seconds; below the API's priority they yield to it, so
#: polls and submits stay quick while songs render, and render as fast when it is idle.
WORKER_NICENESS = 10
#: Where the kernel has it, renders also run under ``SCHED_IDLE``: a niced render still
#: holds its core when the API or the database wakes (the scheduler then weighs the two),
#: while a core running only idle-class work counts as free and is handed over at once.
#: On two cores with songs rendering, PostgreSQL submit p99 at 100 clients went from
#: 49–101 ms (nice alone) to 27–58 ms (``benchmarks/gateway.py``).
WORKER_POLICY = getattr(os, "SCHED_IDLE", None)


@dataclass(frozen=True)
class _Running:
    """What a future belongs to, so late callbacks from an old pool touch only that pool."""

    task_id: str
    executor: ProcessPoolExecutor
    slots: threading.Semaphore


class InProcessQueue:
    """A dispatcher thread feeding ``run(task_id)`` to a spawn-context process pool.

    At most ``workers`` tasks are handed to the pool at once, so a broken pool loses only
    the tasks that were really running; those are handed out again (up to
    ``max_redeliveries`` times, like a Celery broker redelivering an unacked message).
    An id already waiting or running is not queued twice.

    With ``presence_dir`` (a directory of the data dir), each start takes an identity there
    (``instance``) that other processes on the same data dir can find ``gone`` once this
    start has stopped or its process died.
    """

    def __init__(
        self,
        run: Callable[[str], None],
        *,
        workers: int,
        max_redeliveries: int = 2,
        stop_timeout_s: float = 5.0,
        warm: Callable[[], None] | None = None,
        presence_dir: Path | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._run = run
        self._warm = warm
        self._warming: list[Future[None]] = []
        self._workers = workers
        self._max_redeliveries = max_redeliveries
        self._stop_timeout_s = stop_timeout_s
        self._ids: queue.Queue[object] = queue.Queue()
        self._slots = threading.Semaphore(workers)
        self._lock = threading.Lock()
        self._known: set[str] = set()  # waiting or running
        self._inflight: dict[Future[None], _Running] = {}
        self._redeliveries: dict[str, int] = {}
        self._executor: ProcessPoolExecutor | None = None
        self._broken: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._presence = Presence(presence_dir) if presence_dir is not None else None

    # -- TaskQueue -------------------------------------------------------------------------

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        """Never blocks. ``route`` is ignored: every task runs on this machine."""
        with self._lock:
            if self._stopping:
                raise QueueError("task queue is stopped")
            if task_id in self._known:
                return
            self._known.add(task_id)
        self._ids.put(task_id)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stopping = False
            self._slots = threading.Semaphore(self._workers)
            self._executor = self._new_executor()
            self._thread = threading.Thread(
                target=self._dispatch, name="cadenza-dispatcher", daemon=True
            )
            self._thread.start()
            executor = self._executor
        self._claim()
        if self._warm is not None:
            self._start_workers(executor)

    def stop(self) -> None:
        """Stops taking work, gives running tasks ``stop_timeout_s``, then kills them.

        Killed or never-started tasks stay in the database as they are; the reaper and
        the worker's attempt count deal with them after a restart.
        """
        with self._lock:
            self._stopping = True
            thread, executor = self._thread, self._executor
            self._thread = None
        self._ids.put(_STOP)
        if thread is not None:
            thread.join(timeout=self._stop_timeout_s)
        with self._lock:
            pending = list(self._inflight)
        if executor is not None:
            wait(pending, timeout=self._stop_timeout_s)
            _terminate(executor)
        with self._lock:
            self._executor = None
            self._broken = None
            self._inflight.clear()
            self._known.clear()
            self._redeliveries.clear()
            self._ids = queue.Queue()
        if self._presence is not None:
            # Last: its tasks are not handed out elsewhere while its workers may run them.
            self._presence.release()

    @property
    def instance(self) -> str | None:
        """This start's identity; None when stopped, or without a ``presence_dir``."""
        return self._presence.instance if self._presence is not None else None

    def gone(self, instances: Collection[str]) -> set[str]:
        """Starts (of any server on this data dir) that have stopped or died."""
        if self._presence is None or not instances:
            return set()
        try:
            return self._presence.gone(instances)
        except OSError:
            log.warning("could not tell which task queues are gone", exc_info=True)
            return set()

    # -- introspection (health, metrics) --------------------------------------------------

    @property
    def pending(self) -> int:
        """Tasks waiting for a slot plus tasks running."""
        with self._lock:
            return len(self._known)

    def readiness(self) -> tuple[int, int] | None:
        """(workers done warming up, workers) with a warm start, else None."""
        with self._lock:
            if self._warm is None or self._thread is None:
                return None
            return sum(f.done() for f in self._warming), self._workers

    # -- internals ------------------------------------------------------------------------

    def _claim(self) -> None:
        if self._presence is None:
            return
        try:
            instance = self._presence.claim()
        except OSError:
            # Tasks still run; only a crash of this server would leave them to deadlines.
            log.warning("task queue runs without an identity", exc_info=True)
            return
        log.info("task queue started as %s", instance)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
        )

    def _start_workers(self, executor: ProcessPoolExecutor) -> None:
        """Starts every worker now and runs ``warm`` in each (the pool starts a process per
        call while none is idle); a task submitted meanwhile runs once one is ready."""
        assert self._warm is not None
        warming: list[Future[None]] = []
        for _ in range(self._workers):
            try:
                future = executor.submit(self._warm)
            except (BrokenProcessPool, OSError, RuntimeError):
                log.warning("worker start-up could not be requested", exc_info=True)
                break
            future.add_done_callback(_log_warm_failure)
            warming.append(future)
        with self._lock:
            self._warming = warming

    def _dispatch(self) -> None:
        ids, slots = self._ids, self._slots
        while True:
            try:
                item = ids.get(timeout=HEALTH_CHECK_S)
            except queue.Empty:
                self._check_health()
                continue
            if item is _STOP:
                return
            task_id = str(item)
            # Wait for a free slot, but keep noticing a stop request.
            while not slots.acquire(timeout=0.2):
                if self._stopping:
                    return
                self._check_health()
            if self._stopping:
                slots.release()
                return
            try:
                self._submit(task_id, slots)
            except Exception:  # the dispatcher must outlive any one task
                log.exception("task %s could not be dispatched; left to the reaper", task_id)
                self._forget(task_id)
                slots.release()

    def _submit(self, task_id: str, slots: threading.Semaphore) -> None:
        for _ in range(2):
            executor = self._current_executor()
            if executor is None:
                slots.release()
                return
            try:
                future = executor.submit(self._run, task_id)
            except (BrokenProcessPool, OSError):
                # A pool breaking during submit may raise OSError ("handle is closed")
                # while it respawns a dead child, not only BrokenProcessPool.
                self._mark_broken(executor)
                continue
            except RuntimeError:  # shut down under us by stop()
                slots.release()
                return
            with self._lock:
                self._inflight[future] = _Running(task_id, executor, slots)
            future.add_done_callback(self._done)
            return
        log.error("task %s not dispatched: the worker pool cannot be recreated", task_id)
        self._forget(task_id)
        slots.release()

    def _current_executor(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._stopping:
                return None
            if self._executor is not None and self._executor is self._broken:
                log.warning("worker pool broken (a child died); starting a new one")
                old = self._executor
                self._executor = self._new_executor()
                self._broken = None
                threading.Thread(target=self._retire, args=(old,), daemon=True).start()
            return self._executor

    def _check_health(self) -> None:
        """Notices a pool that broke with nothing submitted since (no callback, no submit)."""
        with self._lock:
            executor = self._executor
        # ``_broken`` is private, but the only way to ask without submitting work.
        if executor is not None and getattr(executor, "_broken", False):
            self._mark_broken(executor)
            self._current_executor()

    def _retire(self, old: ProcessPoolExecutor) -> None:
        """Kills a broken pool, then fails any of its futures it never completed."""
        try:
            _terminate(old)
        except Exception:  # a pool torn down by its own manager thread meanwhile
            log.warning("broken worker pool did not shut down cleanly", exc_info=True)
        with self._lock:
            orphans = [f for f, running in self._inflight.items() if running.executor is old]
        wait(orphans, timeout=ORPHAN_GRACE_S)
        for future in orphans:
            if not future.done():
                with contextlib.suppress(InvalidStateError):  # completed meanwhile
                    future.set_exception(BrokenProcessPool("orphaned by a broken pool"))

    def _mark_broken(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._broken = executor

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            running = self._inflight.pop(future, None)
        if running is None:  # already cleared by stop()
            return
        running.slots.release()
        task_id = running.task_id
        if future.cancelled():
            self._forget(task_id)
            return
        error = future.exception()
        if isinstance(error, BrokenProcessPool):
            self._mark_broken(running.executor)
            self._redeliver(task_id)
            return
        if error is not None:
            log.error("task %s raised in the worker: %r", task_id, error)
        self._forget(task_id)

    def _redeliver(self, task_id: str) -> None:
        with self._lock:
            count = self._redeliveries.get(task_id, 0)
            again = not self._stopping and count < self._max_redeliveries
            if again:
                self._redeliveries[task_id] = count + 1
            else:
                self._known.discard(task_id)
                self._redeliveries.pop(task_id, None)
        if again:
            log.warning("task %s lost with its worker; handing it out again", task_id)
            self._ids.put(task_id)
        else:
            log.error("task %s lost with its worker; left to the reaper", task_id)

    def _forget(self, task_id: str) -> None:
        with self._lock:
            self._known.discard(task_id)
            self._redeliveries.pop(task_id, None)


def _worker_init() -> None:
    """Runs first in every worker process."""
    exit_with_parent()
    with contextlib.suppress(OSError):  # a nice value already at the floor is fine
        os.nice(WORKER_NICENESS)
    if WORKER_POLICY is not None:
        with contextlib.suppress(OSError):  # a sandbox may forbid it: nice alone then
            os.sched_setscheduler(0, WORKER_POLICY, os.sched_param(0))


def _log_warm_failure(future: Future[None]) -> None:
    """A worker that failed to warm up still takes tasks: they report what is wrong."""
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        log.warning("worker start-up failed: %r", error)


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Kills the pool's children; the executor has no public way to do it before 3.14."""
    processes = dict(getattr(executor, "_processes", None) or {})
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        if process.is_alive():
            process.terminate()
    for process in processes.values():
        process.join(timeout=2)
        if process.is_alive():
            process.kill()
