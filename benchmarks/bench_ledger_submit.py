"""Submit throughput of the data layer: charged task submissions per second.

Usage: .venv/bin/python benchmarks/bench_ledger_submit.py [--threads 8] [--submits 400]
       [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Each submit is the full use case (key row lock, idempotency lookup, price, concurrency
count, conditional debit, task + ledger + 2 clips, commit, enqueue, mark dispatched).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import create_engine, text

from cadenza.db import create_engine_for, migrate, uow_factory
from cadenza.services import billing, keys, tasks


class NullQueue:
    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    instance: str | None = None  # a broker's queue: tasks outlive the server

    def gone(self, instances: Collection[str]) -> set[str]:
        return set()


def run(url: str, threads: int, submits: int) -> tuple[float, float, float]:
    migrate(url)
    engine = create_engine_for(url, pool_size=threads, max_overflow=4)
    uow = uow_factory(engine)
    billing.seed_prices(uow)
    per_thread = submits // threads
    key_list = [
        keys.create_key(uow, name=f"bench{i}", credits=Decimal(10**9), concurrency_limit=10**6)[0]
        for i in range(threads)
    ]
    latencies: list[float] = []
    lock = threading.Lock()
    body = {"prompt": "a song for the benchmark", "tags": "pop"}

    def work(i: int) -> None:
        mine = []
        for _ in range(per_thread):
            start = time.perf_counter()
            tasks.submit_music(uow, NullQueue(), key_list[i], body)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    engine.dispose()
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p95 * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--submits", type=int, default=400)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rate, p50, p95 = run(f"sqlite:///{tmp}/bench.db", args.threads, args.submits)
        print(f"sqlite     {rate:7.1f} submits/s  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    if args.postgres:
        admin = create_engine(
            args.postgres.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        name = f"cadenza_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin.url.set(database=name).render_as_string(hide_password=False)
            rate, p50, p95 = run(url, args.threads, args.submits)
            print(f"postgresql {rate:7.1f} submits/s  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
