"""Gateway overhead: requests/s of an authenticated fetch vs a bare Starlette endpoint,
and submit latency under 100 concurrent clients.

The servers (bare; Cadenza with its 1 s auth cache; Cadenza reading the key from the
database on every request) run as separate uvicorn processes (one worker each) on this
machine, and are driven by the same load generator (keep-alive httpx clients in
``--clients`` processes) in interleaved rounds, so the ratio is what the auth + database
path costs relative to the framework floor. The submit latency uses 100 concurrent httpx
async clients while one render worker is busy with the songs they ask for, as a real
server would be.

    .venv/bin/python benchmarks/gateway.py [--seconds 3] [--rounds 5] [--clients 4]

Goal: fetch/bare >= 0.5. The load generator shares the CPU with the servers, so absolute
figures understate what a dedicated client would see; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Any) -> JSONResponse:
        return JSONResponse({"code": "success", "message": "", "data": {"ok": True}})

    return Starlette(routes=[Route("/bare", hello)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, timeout_s: float = 60.0) -> None:
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
def process(args: list[str], env: dict[str, str], health_url: str) -> Iterator[None]:
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_up(health_url)
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def prepare_data(data_dir: Path, database_url: str = "") -> tuple[str, str]:
    """A key with generous limits and one task to fetch (never dispatched)."""
    from cadenza.bootstrap import build_uow, migrate
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

    class NoQueue:
        def enqueue(self, task_id: str, *, route: str | None = None) -> None:
            pass

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

        instance: str | None = None  # a broker's queue: tasks outlive the server

        def gone(self, instances: Collection[str]) -> set[str]:
            return set()

    task = tasks.submit_music(uow, NoQueue(), key, {"tags": "pop", "prompt": "a bench song"})
    return secret, task.id


def _hammer(url: str, headers: dict[str, str], seconds: float) -> tuple[int, int]:
    """One load process: a keep-alive client in a tight loop (httpx's async pool is slower
    than the servers under test, so processes, not coroutines, generate the load)."""
    ok = errors = 0
    with httpx.Client(timeout=30.0) as client:
        for _ in range(20):  # warm up the connection and the server's caches
            client.get(url, headers=headers).raise_for_status()
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            if client.get(url, headers=headers).status_code == 200:
                ok += 1
            else:
                errors += 1
    return ok, errors


def throughput(url: str, headers: dict[str, str], seconds: float, clients: int) -> float:
    context = multiprocessing.get_context("fork")
    with context.Pool(clients) as pool:
        started = time.perf_counter()
        results = pool.starmap(_hammer, [(url, headers, seconds)] * clients)
        elapsed = time.perf_counter() - started
    errors = sum(e for _, e in results)
    if errors:
        print(f"  warning: {errors} non-200 answers from {url}", file=sys.stderr)
    # Each process warms up before its timed loop; count the timed loops only.
    return sum(ok for ok, _ in results) / min(elapsed, seconds + 0.5)


async def submit_latency(base: str, secret: str, clients: int, per_client: int) -> list[float]:
    headers = {"X-API-Key": secret}
    latencies: list[float] = []
    failures = 0

    # One client (one connection) each: a shared pool's bookkeeping would be measured. They
    # are made and connected before the clock starts: making 100 clients (an SSL context
    # each, even for plain HTTP) costs the load generator seconds of the CPU it shares.
    pool = [httpx.AsyncClient(base_url=base, timeout=60.0, verify=False) for _ in range(clients)]
    await asyncio.gather(*(client.get("/healthz") for client in pool))

    async def worker(n: int) -> None:
        nonlocal failures
        for i in range(per_client):
            body = {"tags": "pop", "prompt": f"bench song {n}-{i}", "make_instrumental": True}
            started = time.perf_counter()
            response = await pool[n].post("/suno/submit/music", json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                failures += 1

    try:
        await asyncio.gather(*(worker(n) for n in range(clients)))
    finally:
        await asyncio.gather(*(client.aclose() for client in pool))
    if failures:
        print(f"  warning: {failures} submits failed", file=sys.stderr)
    return latencies


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--clients", type=int, default=4, help="load processes")
    parser.add_argument("--submit-clients", type=int, default=100)
    parser.add_argument("--submits-per-client", type=int, default=3)
    parser.add_argument(
        "--database-url", default="", help="an empty PostgreSQL database; SQLite if not given"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        data_dir = Path(tmp)
        secret, task_id = prepare_data(data_dir, args.database_url)
        headers = {"X-API-Key": secret}
        python = sys.executable
        with contextlib.ExitStack() as servers:
            bare_port = free_port()
            bare_cmd = [
                python, "-m", "uvicorn", "--factory", "benchmarks.gateway:bare_app",
                "--port", str(bare_port), "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
            bare_url = f"http://127.0.0.1:{bare_port}/bare"
            servers.enter_context(process(bare_cmd, dict(os.environ), bare_url))
            targets: dict[str, tuple[str, dict[str, str]]] = {"bare": (bare_url, {})}
            bases: dict[str, str] = {}
            for label, ttl in (("auth cache 1 s", "1.0"), ("no auth cache", "0")):
                port = free_port()
                env = {
                    **os.environ,
                    "CADENZA_REAPER_INTERVAL_S": "0",
                    "CADENZA_AUTH_CACHE_TTL_S": ttl,
                    "CADENZA_WORKERS": "1",
                    "CADENZA_COMPOSE_WORKERS": "1",
                    "CADENZA_DATABASE_URL": args.database_url,
                }
                cmd = [
                    python, "-m", "cadenza.cli", "serve", "--port", str(port),
                    "--data-dir", str(data_dir), "--workers", "1",
                ]  # fmt: skip
                base = f"http://127.0.0.1:{port}"
                servers.enter_context(process(cmd, env, f"{base}/healthz"))
                targets[label] = (f"{base}/suno/fetch/{task_id}", headers)
                bases[label] = base
            for base in bases.values():  # start-up work must not overlap the measurements
                wait_ready(f"{base}/healthz")

            # Rounds interleave the servers, so a burst of load from elsewhere on the
            # machine falls on all of them; the ratios are taken within each round.
            rates: dict[str, list[float]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, (url, hdrs) in targets.items():
                    rates[name].append(throughput(url, hdrs, args.seconds, args.clients))
            rows: list[tuple[str, str]] = [
                ("bare Starlette JSON endpoint", f"{statistics.median(rates['bare']):,.0f} req/s")
            ]
            for label in bases:
                ratios = [r / b for r, b in zip(rates[label], rates["bare"], strict=True)]
                rows.append(
                    (
                        f"GET /suno/fetch/{{id}} ({label})",
                        f"{statistics.median(rates[label]):,.0f} req/s",
                    )
                )
                rows.append(
                    (
                        f"  ratio to bare ({label})",
                        f"{statistics.median(ratios):.2f} "
                        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
                    )
                )
            lat = asyncio.run(
                submit_latency(
                    bases["auth cache 1 s"], secret, args.submit_clients, args.submits_per_client
                )
            )
            rows.append(
                (
                    f"POST /suno/submit/music, {args.submit_clients} clients "
                    f"x {args.submits_per_client}",
                    f"p50 {statistics.median(lat) * 1000:.0f} ms, "
                    f"p99 {percentile(lat, 99) * 1000:.0f} ms, "
                    f"max {max(lat) * 1000:.0f} ms",
                )
            )

    width = max(len(name) for name, _ in rows)
    print(f"\n{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{database}, cpu cores: {os.cpu_count()}, load processes: {args.clients}, "
        f"{args.rounds} rounds of {args.seconds:.0f} s each, "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
