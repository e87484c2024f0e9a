"""What relaying costs: the latency a gateway adds to each task, and how many relayed
tasks per second it carries with 200 in flight.

A local upstream (a small sunocore-dialect server in this script, whose every task ends a
fixed time after its submit, with two small clips) runs beside a real ``cadenza serve``
gateway with a channel to it. Measured:

- latency: tasks one at a time, submit to SUCCESS, polled every 50 ms, straight on the
  upstream and through the gateway (which also mirrors the media); the difference is
  what the gateway adds (median and p95);
- throughput: ``--tasks`` submits to the gateway at once, then batch polls until all
  have succeeded: tasks per second from the first submit to the last success, and the
  most in flight on the channel (``cadenza_channel_in_flight``).

    .venv/bin/python benchmarks/relay.py [--tasks 200] [--serial 10] [--render-s 1.0]
        [--database-url postgresql://…/empty_db]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
AUDIO = b"ID3" + os.urandom(64 * 1024)
COVER = b"\x89PNG\r\n\x1a\n" + os.urandom(8 * 1024)
UPSTREAM_KEY = "sk_bench_upstream"


class Upstream:
    """Tasks that end ``render_s`` after their submit; media served from memory."""

    def __init__(self, render_s: float) -> None:
        self.render_s = render_s
        self.tasks: dict[str, float] = {}
        self.by_key: dict[str, str] = {}
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, body: bytes, kind: str = "application/json") -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send(
                    *((AUDIO, "audio/mpeg") if self.path.endswith(".mp3") else (COVER, "image/png"))
                )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if self.path == "/suno/submit/music":
                    key = self.headers.get("Idempotency-Key") or uuid.uuid4().hex
                    with upstream.lock:
                        if key not in upstream.by_key:
                            task_id = str(uuid.uuid4())
                            upstream.by_key[key] = task_id
                            upstream.tasks[task_id] = time.monotonic()
                        task_id = upstream.by_key[key]
                    self._send(json.dumps({"code": "success", "data": task_id}).encode())
                    return
                out = [upstream.render(str(i)) for i in body.get("ids") or []]
                self._send(json.dumps({"code": "success", "data": [t for t in out if t]}).encode())

        ThreadingHTTPServer.request_queue_size = 1024
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def render(self, task_id: str) -> dict[str, Any] | None:
        with self.lock:
            started = self.tasks.get(task_id)
        if started is None:
            return None
        done = time.monotonic() - started >= self.render_s
        fraction = min(0.99, (time.monotonic() - started) / self.render_s)
        clips = [
            {
                "id": f"{task_id}-{n}",
                "status": "complete" if done else "streaming",
                "audio_url": f"{self.base}/m/{task_id}-{n}.mp3" if done else "",
                "image_url": f"{self.base}/m/{task_id}-{n}.png" if done else "",
                "title": "bench",
                "duration": 30.0 if done else None,
            }
            for n in range(2)
        ]
        return {
            "task_id": task_id,
            "status": "SUCCESS" if done else "IN_PROGRESS",
            "progress": "100%" if done else f"{int(fraction * 100)}%",
            "data": clips,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "cadenza.cli", *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return out.stdout


@contextlib.contextmanager
def gateway(env: dict[str, str], port: int) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cadenza.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the gateway did not start")
            time.sleep(0.3)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


BODY = {"title": "bench", "tags": "lofi", "mv": "chirp-v4", "make_instrumental": True}


def one_task(client: httpx.Client) -> float:
    start = time.perf_counter()
    task_id = client.post("/suno/submit/music", json=BODY).json()["data"]
    while True:
        task = client.post("/suno/fetch", json={"ids": [task_id]}).json()["data"][0]
        if task["status"] == "SUCCESS":
            return time.perf_counter() - start
        if task["status"] == "FAILURE":
            raise SystemExit(f"a task failed: {task['fail_reason']}")
        time.sleep(0.05)


def in_flight(base: str) -> int:
    text = httpx.get(f"{base}/metrics").text
    found = re.search(r'cadenza_channel_in_flight\{channel="bench"\} ([0-9.]+)', text)
    return int(float(found.group(1))) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--serial", type=int, default=10)
    parser.add_argument("--render-s", type=float, default=1.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    upstream = Upstream(args.render_s)
    data = Path(tempfile.mkdtemp(prefix="cadenza-relay-bench-"))
    env = {
        **os.environ,
        "CADENZA_DATA_DIR": str(data),
        "CADENZA_CHANNEL_SECRET": "bench",
        "CADENZA_ALLOW_PRIVATE_URLS": "true",
        "CADENZA_RELAY_POLL_S": "0.25",
        "CADENZA_WARM_START": "false",
        "CADENZA_WORKERS": "1",
        "CADENZA_LOG_LEVEL": "WARNING",
        "CADENZA_DATABASE_URL": args.database_url,
        "PYTHONPATH": str(ROOT / "src"),
    }
    cli(env, "migrate")
    cli(
        env,
        "channels",
        "add",
        "--name",
        "bench",
        "--kind",
        "sunocore",
        "--base-url",
        upstream.base,
        "--key",
        UPSTREAM_KEY,
        "--models",
        "chirp-v4",
        "--max-in-flight",
        str(max(16, args.tasks)),
    )
    key = (
        cli(
            env,
            "keys",
            "create",
            "--credits",
            "100000",
            "--rpm",
            "1000000",
            "--concurrency",
            str(args.tasks + 10),
        )
        .strip()
        .splitlines()[-1]
        .split()[-1]
    )

    with gateway(env, free_port()) as base:
        with httpx.Client(base_url=upstream.base, timeout=30) as direct:
            straight = [one_task(direct) for _ in range(args.serial)]
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
            one_task(client)  # first use: imports and connections
            relayed = [one_task(client) for _ in range(args.serial)]
        added = [r - s for r, s in zip(sorted(relayed), sorted(straight), strict=True)]
        print(f"upstream alone   : median {statistics.median(straight) * 1000:7.0f} ms")
        print(f"through gateway  : median {statistics.median(relayed) * 1000:7.0f} ms")
        p95 = sorted(added)[max(0, int(len(added) * 0.95) - 1)]
        print(
            f"added per task   : median {statistics.median(added) * 1000:7.0f} ms, "
            f"p95 {p95 * 1000:7.0f} ms"
        )

        peak = 0
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120) as client:
            start = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                ids = list(
                    pool.map(
                        lambda _: client.post("/suno/submit/music", json=BODY).json()["data"],
                        range(args.tasks),
                    )
                )
            submitted = time.perf_counter() - start
            pending = set(ids)
            while pending:
                peak = max(peak, in_flight(base))
                tasks = client.post("/suno/fetch", json={"ids": sorted(pending)}).json()["data"]
                for task in tasks:
                    if task["status"] == "FAILURE":
                        raise SystemExit(f"a task failed: {task['fail_reason']}")
                    if task["status"] == "SUCCESS":
                        pending.discard(task["task_id"])
                time.sleep(0.2)
            total = time.perf_counter() - start
        print(
            f"{args.tasks} at once    : submitted in {submitted:5.2f} s, all done in "
            f"{total:5.2f} s -> {args.tasks / total:6.1f} relayed tasks/s "
            f"(peak {peak} in flight on the channel)"
        )


if __name__ == "__main__":
    main()
