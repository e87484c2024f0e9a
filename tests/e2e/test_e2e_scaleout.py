"""The scale-out setup end to end: PostgreSQL, Redis limits, a Celery broker and a separate
``cadenza worker`` process, behind a real ``cadenza serve``. Skips, saying why, when the
PostgreSQL or Redis server is absent."""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from e2e_serving import assert_progress_reported, assert_two_complete_songs, poll_task

REDIS_URL = os.environ.get("CADENZA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def database(postgres_database: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    if not _reachable("127.0.0.1", 6379):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    if importlib.util.find_spec("cadenza.compose.pipeline") is None:
        pytest.skip("the built-in engine cadenza.compose.pipeline is absent")
    with postgres_database("cadenza_e2e") as url:
        yield url


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_song_through_celery_worker_on_postgres(database: str, tmp_path: Path) -> None:
    queue_name = f"e2e-{secrets.token_hex(4)}"
    port = _free_port()
    env = {
        **os.environ,
        "CADENZA_DATA_DIR": str(tmp_path),
        "CADENZA_DATABASE_URL": database,
        "CADENZA_QUEUE": "celery",
        "CADENZA_BROKER_URL": REDIS_URL,
        "CADENZA_QUEUE_NAME": queue_name,
        "CADENZA_WORKER_NAME": "e2e-worker",
        "CADENZA_LIMITS": "redis",
        "CADENZA_REDIS_URL": REDIS_URL,
        "CADENZA_COMPOSE_WORKERS": "2",
        "CADENZA_LOG_LEVEL": "WARNING",
    }
    cli = [sys.executable, "-m", "cadenza.cli"]
    server_log = (tmp_path / "server.log").open("wb")
    worker_log = (tmp_path / "worker.log").open("wb")
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=server_log, stderr=subprocess.STDOUT
    )
    worker = subprocess.Popen(
        [*cli, "worker", "--concurrency", "1"], env=env, stdout=worker_log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        created = subprocess.run(
            [*cli, "keys", "create", "--credits", "30", "--rpm", "600"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        headers = {"X-API-Key": created.stdout.strip().splitlines()[-1].split()[-1]}
        body = {
            "title": "Scale-out",
            "tags": "folk, guitar",
            "prompt": "[Verse]\nsing along",
            "mv": "chirp-v4",
        }
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            submitted = client.post("/suno/submit/music", json=body).json()
            assert submitted["code"] == "success", submitted
            task_id = submitted["data"]
            task, seen = poll_task(client, task_id)
            assert task["status"] == "SUCCESS", (
                task,
                (tmp_path / "worker.log").read_text()[-3000:],
            )
            # The separate worker recorded progress in PostgreSQL while it rendered.
            assert_progress_reported(seen)
            single = client.get(f"/suno/fetch/{task_id}").json()["data"]
            assert single["status"] == "SUCCESS" and single["progress"] == "100%"
            assert single["data"] == task["data"]
            assert_two_complete_songs(client, single, title="Scale-out")
            me = client.get("/suno/billing/me").json()["data"]["api_key"]
            assert me["credits_balance"] == 20
            rows = client.get("/suno/billing/transactions").json()["data"]
            assert [r["transaction_type"] for r in rows if r["task_id"] == task_id] == ["CONSUME"]
    finally:
        _stop(worker)
        _stop(server)
        server_log.close()
        worker_log.close()
