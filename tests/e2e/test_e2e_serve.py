"""A real ``cadenza serve`` process on a free port, driven over HTTP like a client would.

Keys are made with the real CLI in a second process, so this also covers two processes
sharing the embedded SQLite database.
"""

from __future__ import annotations

import importlib.util
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_serving import (
    Server,
    assert_progress_reported,
    assert_two_complete_songs,
    cli,
    launch,
    new_key,
    poll_task,
    stop,
)

ENGINE_PRESENT = importlib.util.find_spec("cadenza.compose.pipeline") is not None


def _new_key(server: Server, credits: str = "100", *extra: str) -> dict[str, str]:
    return {"X-API-Key": new_key(server, credits, *extra)}


def _cli(server: Server, *args: str) -> str:
    return cli(server, *args)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("e2e-data")
    running = launch(data_dir)
    try:
        yield running
    finally:
        code = stop(running)
    # uvicorn re-raises the signal after its graceful shutdown.
    assert code in (0, -signal.SIGTERM), running.log.read_text()[-3000:]
    assert "shutdown_complete" in running.log.read_text()


def test_first_start_prints_the_admin_key_once(server: Server) -> None:
    output = server.log.read_text()
    assert output.count("admin API key is shown ONCE") == 1
    assert "sk_" in output


def test_workers_start_with_the_server(server: Server) -> None:
    # Warm start: the worker and its render processes load before any task asks for them.
    deadline = time.monotonic() + 90
    while True:
        health = httpx.get(f"{server.base}/healthz", timeout=5).json()
        if health["workers"] == {"ready": 1, "total": 1}:
            break
        assert health["workers"]["total"] == 1
        assert time.monotonic() < deadline, f"workers not ready: {health}"
        time.sleep(0.3)


def test_auth_and_billing_over_http(server: Server) -> None:
    missing = httpx.get(f"{server.base}/suno/billing/me")
    assert missing.status_code == 401
    assert missing.json()["code"] == "unauthorized"
    headers = _new_key(server, "42")
    me = httpx.get(f"{server.base}/suno/billing/me", headers=headers).json()
    assert me["data"]["api_key"]["credits_balance"] == 42
    pricing = httpx.get(f"{server.base}/suno/billing/pricing", headers=headers).json()
    assert any(p["action"] == "MUSIC" for p in pricing["data"])
    _cli(server, "keys", "revoke", headers["X-API-Key"][:10])
    time.sleep(1.5)  # the auth cache remembers a verified key for at most a second
    revoked = httpx.get(f"{server.base}/suno/billing/me", headers=headers)
    assert revoked.status_code == 401


@pytest.mark.slow
@pytest.mark.skipif(
    not ENGINE_PRESENT, reason="the built-in engine cadenza.compose.pipeline is absent"
)
def test_submit_poll_and_download_a_real_song(server: Server) -> None:
    headers = _new_key(server, "100", "--rpm", "1000")  # polled five times a second
    body = {
        "title": "E2E",
        "tags": "pop, piano",
        "prompt": "[Verse]\nhello little star",
        "mv": "chirp-v3-5",
        "metadata": {"seed": 7},
    }
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
        submitted = client.post("/suno/submit/music", json=body).json()
        assert submitted["code"] == "success"
        task_id = submitted["data"]
        task, seen = poll_task(client, task_id)
        assert task["status"] == "SUCCESS", task
        assert_progress_reported(seen)
        single = client.get(f"/suno/fetch/{task_id}").json()["data"]
        assert single["status"] == "SUCCESS" and single["progress"] == "100%"
        assert single["data"] == task["data"]
        assert_two_complete_songs(client, single, title="E2E")
        rows = client.get("/suno/billing/transactions").json()["data"]
        assert [r["transaction_type"] for r in rows if r["task_id"] == task_id] == ["CONSUME"]
