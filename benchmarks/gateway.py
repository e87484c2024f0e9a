"""The poll path against the framework floor, and submit latency while songs render,
measured with wrk (a C load generator, so the client is never the bottleneck).

Two servers run side by side, one uvicorn process each: Cadenza (``cadenza serve``) and a
bare Starlette app that answers the very bytes Cadenza answers (the same task JSON, read
from Cadenza once) with no authentication, database or logging. wrk drives both in
interleaved rounds:

- ``GET /suno/fetch/{id}`` of a finished task with two clips, against the bare GET;
- ``POST /suno/fetch`` with that id, against the bare POST;

so each ratio is what authentication, rate limiting, the database read, serialisation,
request logging and metrics cost relative to the floor. Then the submit latency: 100
connections, each submitting a song and pausing a think time (``--think-ms``, uniform
from half to one and a half times it), while the server's workers render the songs they
asked for; wrk reports the latency percentiles.

    .venv/bin/python benchmarks/gateway.py [--database-url postgresql://…/empty_db]
        [--seconds 5] [--rounds 3] [--connections 32] [--submit-seconds 15]

Goals: fetch/bare >= 0.5 on SQLite and PostgreSQL; submit p99 <= 50 ms. wrk is installed
from Debian's packages when missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BYTES_ENV = "CADENZA_BENCH_BYTES_DIR"


def bare_app() -> Any:
    """The floor: the same answers as Cadenza, from memory, no work at all."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    folder = Path(os.environ[BYTES_ENV])
    one = (folder / "one.json").read_bytes()
    many = (folder / "many.json").read_bytes()

    async def get_one(request: Request) -> Response:
        return Response(one, media_type="application/json")

    async def post_many(request: Request) -> Response:
        await request.body()
        return Response(many, media_type="application/json")

    return Starlette(routes=[Route("/task", get_one), Route("/tasks", post_many, methods=["POST"])])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (Debian package)…", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and could not be installed")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up")


def wait_ready(url: str, timeout_s: float = 120.0) -> None:
    """Until the server's workers have warmed up (imports, SoundFont)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workers = httpx.get(url, timeout=5.0).json().get("workers")
        if not workers or workers["ready"] == workers["total"]:
            return
        time.sleep(0.5)
    raise RuntimeError(f"workers of {url} did not warm up")


@contextmanager
def process(
    args: list[str], env: dict[str, str], health_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_up(health_url)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class NoQueue:
    instance: str | None = None  # like a broker's queue: tasks outlive the server

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def gone(self, instances: Collection[str]) -> set[str]:
        return set()


def more_keys(data_dir: Path, database_url: str, count: int) -> list[str]:
    from cadenza.bootstrap import build_uow
    from cadenza.services import keys
    from cadenza.settings import Settings

    uow = build_uow(Settings(data_dir=data_dir, database_url=database_url))
    return [
        keys.create_key(
            uow,
            name=f"bench{n}",
            credits=Decimal(10**9),
            rate_limit_per_minute=10**9,
            concurrency_limit=10**6,
        )[1]
        for n in range(count)
    ]


def prepare_data(data_dir: Path, database_url: str) -> tuple[str, str]:
    """A key with generous limits and one finished task with two complete clips, shaped
    as a real song's (media keys, duration, metadata)."""
    from cadenza.bootstrap import build_uow, migrate
    from cadenza.domain.tasks import ClipStatus, TaskStatus
    from cadenza.services import billing, keys, tasks
    from cadenza.settings import Settings

    settings = Settings(data_dir=data_dir, database_url=database_url)
    migrate(settings)
    uow = build_uow(settings)
    billing.seed_prices(uow)
    key, secret = keys.create_key(
        uow,
        name="bench",
        credits=Decimal(10**9),
        rate_limit_per_minute=10**9,
        concurrency_limit=10**6,
    )
    lyrics = "[Verse]\nCity lights are calling\nWe drive into the night\n[Chorus]\nMidnight drive"
    body = {"title": "Midnight Drive", "tags": "synthwave, neon", "prompt": lyrics}
    task = tasks.submit_music(uow, NoQueue(), key, body)
    with uow() as u:
        stored = u.tasks.get(task.id, for_update=True)
        assert stored is not None
        stored.move_to(TaskStatus.IN_PROGRESS, stored.submit_time + timedelta(seconds=1))
        stored.move_to(TaskStatus.SUCCESS, stored.submit_time + timedelta(seconds=9))
        u.tasks.update(stored)
        for n, clip in enumerate(u.clips.list_for_tasks([task.id])):
            prefix = f"clips/{clip.id}-bench{n}"
            clip.status = ClipStatus.COMPLETE
            clip.duration = 171.4 + n
            clip.audio_key = f"{prefix}/song.mp3"
            clip.image_key = f"{prefix}/cover.png"
            clip.image_large_key = f"{prefix}/cover_large.png"
            clip.files = {"song.mp3": clip.audio_key, "song.wav": f"{prefix}/song.wav"}
            clip.metadata = {"seed": 42 + n, "tempo": 118, "key": "A minor", "stems": 6}
            u.clips.update(clip)
        u.commit()
    return secret, task.id


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int
    #: CPU time the server's API process spent per request (user + system).
    cpu_us: float = 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    wrk: str, url: str, *, seconds: float, connections: int, script: Path | None = None
) -> WrkResult:
    args = [wrk, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "--timeout", "10s"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run(
        [*args, url], capture_output=True, text=True, check=True, preexec_fn=_on_load_core
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if errors:
        print(f"  wrk {url}: {errors.group(0)}", file=sys.stderr)
    return WrkResult(rps, p50, p99, int(bad.group(1)) if bad else 0, requests)


#: With two cores or more, the servers' API processes run on core 0 and wrk on core 1:
#: each server's throughput is then what one core gives it, and the load generator never
#: competes with the server it measures (``--no-pin`` leaves placement to the kernel).
PIN = {"server": {0}, "load": {1}}


def _on_load_core() -> None:
    if PIN:
        os.sched_setaffinity(0, PIN["load"])


def pin_server(proc: subprocess.Popen[bytes]) -> None:
    if PIN:
        os.sched_setaffinity(proc.pid, PIN["server"])


def lua_post(path: Path, body: str, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def lua_submits(path: Path, secrets: list[str], think_ms: int) -> Path:
    """Each connection submits a new song under one of ``secrets`` (a gateway has one key
    for all its users; an app's users have one each), then thinks for ``think_ms``
    (0.5x-1.5x)."""
    low, high = max(0, think_ms // 2), max(1, think_ms * 3 // 2)
    keys = ", ".join(json.dumps(s) for s in secrets)
    path.write_text(
        f"""
local counter = 0
local keys = {{{keys}}}
request = function()
  counter = counter + 1
  local key = keys[math.random(#keys)]
  local headers = {{["Content-Type"] = "application/json", ["X-API-Key"] = key}}
  local body = string.format(
    '{{"tags":"pop, piano","prompt":"a bench song number %d","make_instrumental":true}}',
    counter)
  return wrk.format("POST", "/suno/submit/music", headers, body)
end
delay = function()
  return math.random({low}, {high})
end
"""
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (polls)")
    parser.add_argument("--submit-clients", type=int, default=100)
    parser.add_argument("--submit-seconds", type=float, default=15.0)
    parser.add_argument("--think-ms", type=int, default=1000, help="mean pause between submits")
    parser.add_argument(
        "--submit-keys", type=int, default=1, help="keys the submits are spread over (1: a gateway)"
    )
    parser.add_argument("--skip-submits", action="store_true")
    parser.add_argument(
        "--no-pin", action="store_true", help="let the kernel place servers and wrk"
    )
    parser.add_argument(
        "--database-url", default="", help="an empty PostgreSQL database; SQLite if not given"
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    if args.no_pin or (os.cpu_count() or 1) < 2:
        PIN.clear()

    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        data_dir = Path(tmp)
        secret, task_id = prepare_data(data_dir, args.database_url)
        headers = {"X-API-Key": secret}
        python = sys.executable
        rows: list[tuple[str, str]] = []
        with contextlib.ExitStack() as servers:
            port = free_port()
            env = {
                **os.environ,
                "CADENZA_REAPER_INTERVAL_S": "0",
                "CADENZA_WORKERS": "1",
                "CADENZA_DATABASE_URL": args.database_url,
                "CADENZA_LOG_LEVEL": "INFO",  # request logs stay on, as in production
            }
            cmd = [
                python, "-m", "cadenza.cli", "serve", "--port", str(port),
                "--data-dir", str(data_dir), "--workers", "1",
            ]  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            cadenza = servers.enter_context(process(cmd, env, f"{base}/healthz"))
            wait_ready(f"{base}/healthz")  # start-up work must not overlap the measurements
            pin_server(cadenza)  # its render processes, started already, stay unpinned

            # The bare server answers exactly Cadenza's bytes.
            one = httpx.get(f"{base}/suno/fetch/{task_id}", headers=headers)
            many = httpx.post(f"{base}/suno/fetch", json={"ids": [task_id]}, headers=headers)
            assert one.status_code == many.status_code == 200
            (data_dir / "one.json").write_bytes(one.content)
            (data_dir / "many.json").write_bytes(many.content)
            bare_port = free_port()
            bare_cmd = [
                python, "-m", "uvicorn", "--factory", "benchmarks.gateway:bare_app",
                "--port", str(bare_port), "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
            bare = f"http://127.0.0.1:{bare_port}"
            bare_proc = servers.enter_context(
                process(bare_cmd, {**os.environ, BYTES_ENV: str(data_dir)}, f"{bare}/task")
            )
            pin_server(bare_proc)
            post_body = json.dumps({"ids": [task_id]})
            scripts = {
                "cadenza POST": lua_post(data_dir / "post.lua", post_body, headers),
                "bare POST": lua_post(data_dir / "bare_post.lua", post_body, {}),
                "cadenza GET": lua_post(data_dir / "get.lua", "", headers),
            }
            # The GET script only adds the key header; its method stays GET.
            scripts["cadenza GET"].write_text(f'wrk.headers["X-API-Key"] = {json.dumps(secret)}\n')
            targets: dict[str, tuple[str, Path | None]] = {
                "bare GET": (f"{bare}/task", None),
                "cadenza GET": (f"{base}/suno/fetch/{task_id}", scripts["cadenza GET"]),
                "bare POST": (f"{bare}/tasks", scripts["bare POST"]),
                "cadenza POST": (f"{base}/suno/fetch", scripts["cadenza POST"]),
            }
            for url, script in targets.values():  # warm every path once
                run_wrk(wrk, url, seconds=1, connections=4, script=script)
            results: dict[str, list[WrkResult]] = {name: [] for name in targets}
            pids = {"bare": bare_proc.pid, "cadenza": cadenza.pid}
            for _ in range(args.rounds):
                for name, (url, script) in targets.items():
                    pid = pids[name.split()[0]]
                    before = cpu_seconds(pid)
                    result = run_wrk(
                        wrk, url, seconds=args.seconds, connections=args.connections, script=script
                    )
                    result.cpu_us = (cpu_seconds(pid) - before) / max(1, result.requests) * 1e6
                    results[name].append(result)
            for name, found in results.items():
                bad = sum(r.non_2xx for r in found)
                rows.append(
                    (
                        f"{name} ({len(one.content) if 'GET' in name else len(many.content)} B)",
                        f"{statistics.median(r.rps for r in found):,.0f} req/s, "
                        f"p99 {statistics.median(r.p99_ms for r in found):.1f} ms, "
                        f"{statistics.median(r.cpu_us for r in found):.0f} µs CPU/request"
                        + (f", {bad} non-2xx" if bad else ""),
                    )
                )
            for verb in ("GET", "POST"):
                ratios = [
                    c.rps / b.rps
                    for c, b in zip(
                        results[f"cadenza {verb}"], results[f"bare {verb}"], strict=True
                    )
                ]
                rows.append(
                    (
                        f"  ratio cadenza/bare {verb}, req/s",
                        f"{statistics.median(ratios):.2f} "
                        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
                    )
                )
                per_cpu = [
                    b.cpu_us / c.cpu_us if c.cpu_us else 0.0
                    for c, b in zip(
                        results[f"cadenza {verb}"], results[f"bare {verb}"], strict=True
                    )
                ]
                rows.append(
                    (
                        f"  ratio cadenza/bare {verb}, requests per CPU second",
                        f"{statistics.median(per_cpu):.2f} "
                        f"(rounds: {', '.join(f'{r:.2f}' for r in per_cpu)})",
                    )
                )

            if not args.skip_submits:
                secrets = [secret]
                if args.submit_keys > 1:
                    secrets += more_keys(data_dir, args.database_url, args.submit_keys - 1)
                script = lua_submits(data_dir / "submit.lua", secrets, args.think_ms)
                result = run_wrk(
                    wrk,
                    f"{base}/suno/submit/music",
                    seconds=args.submit_seconds,
                    connections=args.submit_clients,
                    script=script,
                )
                health = httpx.get(f"{base}/healthz").json()
                rows.append(
                    (
                        f"POST /suno/submit/music, {args.submit_clients} clients, "
                        f"think {args.think_ms} ms, {args.submit_keys} key(s)",
                        f"{result.rps:,.0f} submits/s, p50 {result.p50_ms:.1f} ms, "
                        f"p99 {result.p99_ms:.1f} ms"
                        + (f", {result.non_2xx} non-2xx" if result.non_2xx else ""),
                    )
                )
                rows.append(("  workers during submits", json.dumps(health.get("workers"))))

    width = max(len(name) for name, _ in rows)
    print(f"\n{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{database}, cpu cores: {os.cpu_count()}, "
        f"{'API processes on core 0, wrk on core 1' if PIN else 'unpinned'}, "
        f"wrk: 1 thread, {args.connections} "
        f"connections, {args.rounds} rounds of {args.seconds:.0f} s, "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
