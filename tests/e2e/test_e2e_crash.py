"""``kill -9`` of the whole server (API process and worker pool) while one task renders and
another waits, then a restart on the same data dir: both end, each charged once and
refunded at most once, and the key's concurrency slots are free again."""

from __future__ import annotations

import importlib.util
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_serving import kill_tree, launch, new_key, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("cadenza.compose.pipeline") is None,
        reason="the built-in engine cadenza.compose.pipeline is absent",
    ),
]

LIMIT = 2  # the key's concurrency limit: one task running, one queued
#: Stall detection would hand the running task out only after an hour: what ends the
#: tasks in time is knowing that the old server's queue is gone.
ENV = {"CADENZA_STALLED_AFTER_S": "3600"}
ENDED = ("SUCCESS", "FAILURE")


def _submit(client: httpx.Client, seed: int) -> httpx.Response:
    body = {
        "title": "t",
        "tags": "pop",
        "prompt": "[Verse]\nhello little star",
        "mv": "chirp-v3-5",
        "metadata": {"seed": seed},
    }
    return client.post("/suno/submit/music", json=body)


def _statuses(client: httpx.Client, ids: list[str]) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = client.post("/suno/fetch", json={"ids": ids}).json()["data"]
    assert [t["task_id"] for t in tasks] == ids
    return tasks


def test_tasks_queued_and_running_at_a_kill_9_end_after_a_restart(tmp_path: Path) -> None:
    # Without a warm start the first task starts as soon as the worker process is up.
    first = launch(tmp_path, env_extra={**ENV, "CADENZA_WARM_START": "false"})
    assert first.proc is not None
    try:
        headers = {
            "X-API-Key": new_key(first, "100", "--concurrency", str(LIMIT), "--rpm", "10000")
        }
        with httpx.Client(base_url=first.base, headers=headers, timeout=30) as client:
            ids = [_submit(client, seed).json()["data"] for seed in range(7, 7 + LIMIT)]
            deadline = time.monotonic() + 120
            while [t["status"] for t in _statuses(client, ids)] != ["IN_PROGRESS", "QUEUED"]:
                assert time.monotonic() < deadline, _statuses(client, ids)
                time.sleep(0.2)
            refused = _submit(client, 99)
            assert refused.status_code == 429
            assert refused.json()["code"] == "concurrency_limited"
    finally:
        kill_tree(first.proc)  # the API process and its render processes, mid-render

    second = launch(tmp_path, env_extra=ENV, log_name="server-2.log")
    try:
        with httpx.Client(base_url=second.base, headers=headers, timeout=30) as client:
            restarted = time.monotonic()
            tasks = _statuses(client, ids)
            while not all(t["status"] in ENDED for t in tasks):
                assert time.monotonic() - restarted < 180, tasks
                time.sleep(1)
                tasks = _statuses(client, ids)
            rows = client.get("/suno/billing/transactions").json()["data"]
            for task in tasks:
                kinds = Counter(
                    r["transaction_type"] for r in rows if r["task_id"] == task["task_id"]
                )
                refunds = 1 if task["status"] == "FAILURE" else 0
                assert kinds == Counter({"CONSUME": 1, "REFUND": refunds}), (task, rows)
            # No slot is held by the old tasks: the key may run LIMIT new ones at once.
            for seed in range(LIMIT):
                accepted = _submit(client, 100 + seed)
                assert accepted.status_code == 200, accepted.text
    finally:
        stop(second)
