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
