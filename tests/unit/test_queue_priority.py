"""Render workers run below the API: a render must never take a core the API or the
database is waiting for."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from cadenza.queue import inprocess


def test_workers_render_at_idle_priority() -> None:
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=inprocess._worker_init,
    ) as pool:
        policy = pool.submit(os.sched_getscheduler, 0).result(timeout=60)
        niceness = pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=60)
    assert niceness >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + inprocess.WORKER_NICENESS)
    if inprocess.WORKER_POLICY is None:
        pytest.skip("this platform has no SCHED_IDLE: renders are niced only")
    assert policy == inprocess.WORKER_POLICY
