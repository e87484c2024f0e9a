"""A real ``cadenza serve`` process on a free port, driven over HTTP like a client would.

Keys are made with the real CLI in a second process, so this also covers two processes
sharing the embedded SQLite database.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ENGINE_PRESENT = importlib.util.find_spec("cadenza.compose.pipeline") is not None


@dataclass
class Server:
    base: str
    data_dir: Path
    log: Path
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(server: Server, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cadenza.cli", *args, "--data-dir", str(server.data_dir)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _new_key(server: Server, credits: str = "100") -> dict[str, str]:
    out = _cli(server, "keys", "create", "--credits", credits, "--name", "e2e")
    return {"X-API-Key": out.strip().splitlines()[-1].split()[-1]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    env = {
        **os.environ,
        "CADENZA_WORKERS": "1",
        "CADENZA_COMPOSE_WORKERS": "2",
        "CADENZA_LOG_LEVEL": "INFO",
    }
    env.pop("CADENZA_DATABASE_URL", None)
    log = data_dir / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cadenza.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Server(base, data_dir, log, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("server did not shut down within 30 s of SIGTERM")
        # uvicorn re-raises the signal after its graceful shutdown.
        assert code in (0, -signal.SIGTERM), log.read_text()[-3000:]
        assert "shutdown_complete" in log.read_text()


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
    headers = _new_key(server, "100")
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
        task: dict[str, Any] = {}
        seen_progress: set[str] = set()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            batch = client.post("/suno/fetch", json={"ids": [task_id]}).json()["data"]
            assert [t["task_id"] for t in batch] == [task_id]
            task = batch[0]
            seen_progress.add(task["progress"])
            if task["status"] in ("SUCCESS", "FAILURE"):
                break
            time.sleep(1)
        assert task["status"] == "SUCCESS", task
        single = client.get(f"/suno/fetch/{task_id}").json()["data"]
        assert single["progress"] == "100%"
        assert len(single["data"]) == 2
        for clip in single["data"]:
            assert clip["status"] == "complete"
            assert clip["title"] == "E2E"
            assert clip["duration"] and clip["duration"] > 1
            audio = client.get(clip["audio_url"])
            assert audio.status_code == 200
            assert audio.headers["content-type"] == "audio/mpeg"
            assert len(audio.content) > 10_000
            assert audio.content[:3] == b"ID3" or audio.content[0] == 0xFF
            image = client.get(clip["image_url"])
            assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
        rows = client.get("/suno/billing/transactions").json()["data"]
        assert [r["transaction_type"] for r in rows if r["task_id"] == task_id] == ["CONSUME"]
