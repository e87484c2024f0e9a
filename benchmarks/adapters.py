"""Cost of the infrastructure adapters: rate-limit hits, media round trips, task dispatch.

    .venv/bin/python benchmarks/adapters.py [--hits 2000] [--tasks 200]

Measures, on this machine: ``hit`` latency for the memory and Redis limiters; put+get of a
1 MiB object for the local directory and S3 (moto's in-process server, so the S3 figure is
protocol overhead, not network); and enqueue-to-done latency of no-op tasks through the
in-process pool and through Celery + Redis (a worker subprocess with 2 children).
Backends that are not running are reported as skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REDIS_URL = "redis://127.0.0.1:6379/0"
DONE_ENV = "CADENZA_BENCH_DONE_DIR"


def noop_task(task_id: str) -> None:
    """The task body: drops a file so the parent can see completion."""
    Path(os.environ[DONE_ENV], task_id).touch()


def _per_op_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def bench_limiters(hits: int) -> None:
    from cadenza.limits.memory import MemoryRateLimiter
    from cadenza.limits.redis import RedisRateLimiter

    memory = MemoryRateLimiter()
    key = uuid.uuid4().hex
    print(f"limiter memory: {_per_op_us(lambda: memory.hit(key, 10**9), hits):8.1f} us/hit")
    try:
        redis_limiter = RedisRateLimiter(REDIS_URL, key_prefix=f"bench-{key}")
        redis_limiter.hit(key, 10**9)
    except Exception as exc:
        print(f"limiter redis: skipped ({exc})")
        return
    us = _per_op_us(lambda: redis_limiter.hit(key, 10**9), hits)
    print(f"limiter redis:  {us:8.1f} us/hit")
    rejected = uuid.uuid4().hex
    redis_limiter.hit(rejected, 1)
    us = _per_op_us(lambda: redis_limiter.hit(rejected, 1), hits)
    print(f"limiter redis:  {us:8.1f} us/hit when rejecting (hit + window stats)")


def bench_storage(rounds: int) -> None:
    from cadenza.services.ports import MediaStorage
    from cadenza.storage.local import LocalStorage
    from cadenza.storage.s3 import S3Storage

    payload = os.urandom(1 << 20)
    with tempfile.TemporaryDirectory() as tmp:
        stores: list[tuple[str, MediaStorage]] = [
            ("local", LocalStorage(Path(tmp) / "media", "http://bench"))
        ]
        server = None
        try:
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            s3 = S3Storage(
                "bench",
                endpoint_url=f"http://{host}:{port}",
                region="us-east-1",
                access_key="a",
                secret_key="b",
            )
            s3.ensure_bucket()
            stores.append(("s3 (moto)", s3))
        except Exception as exc:
            print(f"storage s3: skipped ({exc})")
        for name, store in stores:

            def round_trip(store: MediaStorage = store) -> None:
                key = f"bench/{uuid.uuid4().hex}/song.mp3"
                store.put_bytes(key, payload, "audio/mpeg")
                assert store.get_bytes(key) == payload

            ms = _per_op_us(round_trip, rounds) / 1000
            print(f"storage {name}: {ms:8.2f} ms per 1 MiB put+get")
        if server is not None:
            server.stop()


def _await_done(done: Path, ids: list[str], started: float) -> list[float]:
    """Completion times (s after ``started``) of every id, polled from the marker files."""
    finished: dict[str, float] = {}
    deadline = time.monotonic() + 120
    while len(finished) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - len(finished)} tasks never finished")
        for task_id in ids:
            if task_id not in finished and (done / task_id).exists():
                finished[task_id] = time.perf_counter() - started
        time.sleep(0.002)
    return sorted(finished.values())


def _report(name: str, times: list[float]) -> None:
    total = times[-1]
    print(
        f"queue {name}: {len(times)} no-op tasks in {total:.2f} s "
        f"({len(times) / total:.0f}/s), median done at {statistics.median(times) * 1000:.0f} ms"
    )


def bench_inprocess(tasks: int, done: Path) -> None:
    from cadenza.queue.inprocess import InProcessQueue

    queue = InProcessQueue(noop_task, workers=2)
    queue.start()
    try:
        warm = [f"warm-{i}" for i in range(4)]  # spawn the children first
        for task_id in warm:
            queue.enqueue(task_id)
        _await_done(done, warm, time.perf_counter())
        ids = [f"ip-{i}" for i in range(tasks)]
        started = time.perf_counter()
        for task_id in ids:
            queue.enqueue(task_id)
        _report("inprocess (2 workers)", _await_done(done, ids, started))
    finally:
        queue.stop()


def bench_celery(tasks: int, done: Path) -> None:
    from cadenza.queue.celery import CeleryQueue
    from cadenza.queue.celery_app import RUNNER_ENV

    queue_name = f"bench-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.update(
        {
            "CADENZA_BROKER_URL": REDIS_URL,
            RUNNER_ENV: "adapters:noop_task",
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")]),
        }
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cadenza.queue.celery_app",
            "worker",
            f"--queues={queue_name}",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    queue = CeleryQueue(REDIS_URL, default_queue=queue_name)
    try:
        warm = [f"cwarm-{i}" for i in range(4)]
        for task_id in warm:
            queue.enqueue(task_id)
        _await_done(done, warm, time.perf_counter())
        ids = [f"cel-{i}" for i in range(tasks)]
        started = time.perf_counter()
        for task_id in ids:
            queue.enqueue(task_id)
        enqueue_ms = (time.perf_counter() - started) / tasks * 1000
        _report("celery+redis (2 children)", _await_done(done, ids, started))
        print(f"queue celery+redis: enqueue {enqueue_ms:.2f} ms each")
    except Exception as exc:
        print(f"queue celery+redis: skipped ({exc})")
    finally:
        queue.stop()
        worker.terminate()
        worker.wait(timeout=30)
        import redis

        redis.Redis.from_url(REDIS_URL).delete(
            queue_name, f"_kombu.binding.{queue_name}", f"_kombu.binding_permanent.{queue_name}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    bench_limiters(args.hits)
    bench_storage(args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[DONE_ENV] = tmp
        bench_inprocess(args.tasks, Path(tmp))
        bench_celery(args.tasks, Path(tmp))


if __name__ == "__main__":
    main()
