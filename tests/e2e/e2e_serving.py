"""Real ``cadenza serve`` processes for end-to-end tests: start, wait until healthy, make
keys with the real CLI, stop gracefully (or kill the whole process tree)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest


@dataclass
class Server:
    base: str
    data_dir: Path
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(server: Server, *args: str) -> str:
    """Runs ``cadenza <args> --data-dir <the server's>`` in its own process."""
    result = subprocess.run(
        [sys.executable, "-m", "cadenza.cli", *args, "--data-dir", str(server.data_dir)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def new_key(server: Server, credits: str = "100", *extra: str) -> str:
    """A new key's secret, made by the CLI (the secret is the last word it prints)."""
    out = cli(server, "keys", "create", "--credits", credits, "--name", "e2e", *extra)
    return out.strip().splitlines()[-1].split()[-1]


def wait_healthy(proc: subprocess.Popen[bytes], base: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def launch(
    data_dir: Path,
    *,
    env_extra: dict[str, str] | None = None,
    port: int | None = None,
    log_name: str = "server.log",
    start_timeout_s: float = 90,
) -> Server:
    """Starts ``cadenza serve`` on the embedded default and waits for ``/healthz``."""
    port = port or free_port()
    env = {
        **os.environ,
        "CADENZA_WORKERS": "1",
        "CADENZA_COMPOSE_WORKERS": "2",
        "CADENZA_LOG_LEVEL": "INFO",
        **(env_extra or {}),
    }
    if not (env_extra or {}).get("CADENZA_DATABASE_URL"):
        env.pop("CADENZA_DATABASE_URL", None)
    log = data_dir / log_name
    with log.open("ab") as sink:
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
            start_new_session=True,  # its own process group, so a test can kill the tree
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base, log, start_timeout_s)
    except BaseException:
        kill_tree(proc)
        raise
    return Server(base, data_dir, log, env, proc)


def stop(server: Server) -> int:
    """SIGTERM and wait for the graceful shutdown; returns the exit code."""
    proc = server.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        pytest.fail("server did not shut down within 30 s of SIGTERM")


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the server's whole process group (its worker pools included)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def serving(data_dir: Path, *, env_extra: dict[str, str] | None = None) -> Iterator[Server]:
    """A server for the length of the block, stopped gracefully after it."""
    server = launch(data_dir, env_extra=env_extra)
    try:
        yield server
    finally:
        assert server.proc is not None
        if server.proc.poll() is None:
            stop(server)


#: Between two polls of a running task. The worker records progress at most once a
#: second, so polling five times as often sees each value it records during a render.
POLL_S = 0.2


def poll_task(
    client: httpx.Client, task_id: str, timeout_s: float = 300
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Fetches the task (``POST /suno/fetch``) every ``POLL_S`` until it finishes; returns it
    and the (status, progress) of every poll, in order. The key must allow the rate."""
    task: dict[str, Any] = {}
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fetched = client.post("/suno/fetch", json={"ids": [task_id]}).json()
        assert fetched["code"] == "success", fetched
        assert [t["task_id"] for t in fetched["data"]] == [task_id], fetched
        task = fetched["data"][0]
        assert task["progress"].endswith("%"), task["progress"]
        seen.append((task["status"], int(task["progress"].removesuffix("%"))))
        if task["status"] in ("SUCCESS", "FAILURE"):
            break
        time.sleep(POLL_S)
    return task, seen


def assert_progress_reported(seen: list[tuple[str, int]]) -> None:
    """Progress moved while the task ran, never went backwards and ended at 100%: a server
    that only ever said 0% and then 100% fails here."""
    values = [progress for _, progress in seen]
    assert values == sorted(values), seen
    assert seen[-1] == ("SUCCESS", 100), seen
    before = {progress for status, progress in seen[:-1]}
    assert len(before) > 1 and any(0 < p < 100 for p in before), seen


def assert_two_complete_songs(
    client: httpx.Client, task: dict[str, Any], title: str | None = None
) -> None:
    """Exactly two clips, both complete, each with its own audio (an MP3 that downloads
    and differs from the other's) and its own PNG cover."""
    clips = task["data"]
    assert len(clips) == 2, clips
    assert len({c["id"] for c in clips}) == 2, clips
    assert len({c["audio_url"] for c in clips}) == 2, clips
    songs = []
    for clip in clips:
        assert clip["status"] == "complete", clip
        if title is not None:
            assert clip["title"] == title
        assert clip["duration"] and clip["duration"] > 1, clip
        audio = client.get(clip["audio_url"])
        assert audio.status_code == 200, clip["audio_url"]
        assert audio.headers["content-type"] == "audio/mpeg"
        assert len(audio.content) > 10_000
        assert audio.content[:3] == b"ID3" or audio.content[0] == 0xFF
        songs.append(audio.content)
        image = client.get(clip["image_url"])
        assert image.status_code == 200 and image.content[:4] == b"\x89PNG", clip["image_url"]
    assert songs[0] != songs[1]
