"""Running independent pieces of one song's rendering on the cores this process may use.

FluidSynth (through ctypes), pedalboard, soxr and LAME release the GIL while they work, so
threads give real parallelism for them. What runs where never changes the result: every
piece is computed on its own state, and callers fix how work is split from the song alone,
never from the number of cores.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Each thread holds a stem or two of working memory (~60 MB each for 3 minutes), and the
#: engine usually renders a song per core already: two threads hide most of the waiting.
MAX_THREADS = 2
_budget: int | None = None


def set_thread_budget(threads: int | None) -> None:
    """Threads this process may use for one song (None: its cores, up to ``MAX_THREADS``).

    A process rendering one clip beside others on the same cores sets 1: more threads
    than cores only add switching and cache misses.
    """
    global _budget
    _budget = None if threads is None else max(1, threads)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_all(
    jobs: Sequence[Callable[[Callable[[], None]], T]],
    on_step: Callable[[], None] | None = None,
    threads: int | None = None,
) -> list[T]:
    """Run ``jobs`` (each given a ``step`` callback to call as it progresses) and return
    their results in order. ``on_step`` is called in the caller's thread, once per step."""
    count = min(len(jobs), threads or min(MAX_THREADS, _budget or available_cores()))

    if count <= 1:

        def step_here() -> None:
            if on_step is not None:
                on_step()

        return [job(step_here) for job in jobs]

    steps: queue.SimpleQueue[bool] = queue.SimpleQueue()

    def step_queued() -> None:
        steps.put(True)

    with ThreadPoolExecutor(count) as pool:
        futures: list[Future[T]] = [pool.submit(job, step_queued) for job in jobs]
        while not all(f.done() for f in futures):
            try:
                steps.get(timeout=0.05)
            except queue.Empty:
                continue
            if on_step is not None:
                on_step()
        while not steps.empty():
            steps.get()
            if on_step is not None:
                on_step()
        return [f.result() for f in futures]
