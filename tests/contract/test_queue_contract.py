"""One contract for every TaskQueue: the in-process pool and Celery (Redis and RabbitMQ).

The Celery variants run a real worker subprocess (prefork pool, 2 children; started with
``run_worker`` for Redis and with the ``celery`` command for RabbitMQ) consuming a queue
unique to this run, with ``queue_contract_jobs.write_marker`` as the task body, so
acks_late / reject_on_worker_lost are exercised for real by killing a child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from queue_contract_jobs import MARKER_ENV, failing_warm, warm_marker, write_marker

from cadenza.queue import QueueError
from cadenza.queue.celery import CeleryQueue
from cadenza.queue.celery_app import RUNNER_ENV, TASK_NAME, create_app, worker_queue
from cadenza.queue.inprocess import InProcessQueue
from cadenza.services.ports import TaskQueue

HERE = Path(__file__).resolve().parent
REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
WAIT_S = 60.0  # a liveness bound, not a speed target


@dataclass
class Harness:
    queue: TaskQueue
    markers: Path
    route: str | None


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def runs(markers: Path, task_id: str) -> int:
    path = markers / f"{task_id}.runs"
    return len(path.read_text().split()) if path.exists() else 0


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("queue-markers")
    old = os.environ.get(MARKER_ENV)
    os.environ[MARKER_ENV] = str(directory)  # inherited by spawned pool children
    yield directory
    if old is None:
        os.environ.pop(MARKER_ENV, None)
    else:
        os.environ[MARKER_ENV] = old


# -- brokers and workers ---------------------------------------------------------------


def _broker_or_skip(url: str) -> None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        reason = f"broker not reachable at {url}: {exc}"
        print(reason)
        pytest.skip(reason)


def _delete_queues(url: str, names: list[str]) -> None:
    from kombu import Connection

    with Connection(url, connect_timeout=2) as conn:
        channel = conn.default_channel
        for name in names:
            try:
                channel.queue_delete(name)
            except Exception as exc:  # cleanup only; a leftover queue is harmless
                print(f"could not delete queue {name}: {exc}")
    if url.startswith("redis://"):
        import redis

        client = redis.Redis.from_url(url)
        for name in names:
            client.delete(f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")


@dataclass
class CeleryWorker:
    url: str
    default_queue: str
    route: str
    process: subprocess.Popen[bytes]
    log: Path


def _start_worker(url: str, markers: Path, *, via_cli: bool) -> Iterator[CeleryWorker]:
    _broker_or_skip(url)
    tag = uuid.uuid4().hex[:10]
    default_queue = f"cadenza-test-{tag}"
    route = worker_queue(f"w{tag}", default_queue)
    env = dict(os.environ)
    env.update(
        {
            "CADENZA_BROKER_URL": url,
            RUNNER_ENV: "queue_contract_jobs:write_marker",
            MARKER_ENV: str(markers),
            "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
        }
    )
    hostname = f"contract-{tag}@localhost"
    if via_cli:  # the documented entry point: celery -A cadenza.queue.celery_app worker
        command = [
            *("-m", "celery", "-A", "cadenza.queue.celery_app", "worker"),
            f"--queues={default_queue},{route}",
            *("--concurrency=2", "--pool=prefork", "--without-gossip", "--without-mingle"),
            f"--hostname={hostname}",
        ]
    else:  # run_worker, which ``cadenza worker`` calls
        command = [
            "-c",
            "from cadenza.queue.celery_app import run_worker; "
            f"run_worker([{default_queue!r}, {route!r}], concurrency=2, hostname={hostname!r})",
        ]
    log = markers / f"worker-{tag}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield CeleryWorker(url, default_queue, route, process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        _delete_queues(url, [default_queue, route])


@pytest.fixture(scope="module")
def redis_worker(markers: Path) -> Iterator[CeleryWorker]:
    yield from _start_worker(REDIS_URL, markers, via_cli=False)


@pytest.fixture(scope="module")
def amqp_worker(markers: Path) -> Iterator[CeleryWorker]:
    yield from _start_worker(AMQP_URL, markers, via_cli=True)


@pytest.fixture(params=["inprocess", "celery-redis", "celery-amqp"])
def harness(request: pytest.FixtureRequest, markers: Path) -> Iterator[Harness]:
    if request.param == "inprocess":
        queue = InProcessQueue(write_marker, workers=2, stop_timeout_s=2)
        queue.start()
        try:
            yield Harness(queue, markers, route="anything")
        finally:
            queue.stop()
        return
    fixture = "redis_worker" if request.param == "celery-redis" else "amqp_worker"
    worker: CeleryWorker = request.getfixturevalue(fixture)
    assert worker.process.poll() is None, worker.log.read_text()
    celery_queue = CeleryQueue(worker.url, default_queue=worker.default_queue)
    celery_queue.start()
    try:
        yield Harness(celery_queue, markers, route=worker.route)
    finally:
        celery_queue.stop()


def _ids(prefix: str, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{prefix}{tag}-{i}" for i in range(n)]


# -- the contract ----------------------------------------------------------------------


def test_every_enqueued_task_runs(harness: Harness) -> None:
    ids = _ids("t-", 12)
    for task_id in ids:
        harness.queue.enqueue(task_id)
    wait_until(lambda: all(runs(harness.markers, t) >= 1 for t in ids), "all markers")


def test_enqueue_from_many_threads(harness: Harness) -> None:
    # API requests are served from a thread pool, so producers must be thread-safe.
    batches = [_ids("t-", 10) for _ in range(4)]
    threads = [
        threading.Thread(target=lambda b=batch: [harness.queue.enqueue(t) for t in b])
        for batch in batches
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [t for batch in batches for t in batch]
    wait_until(lambda: all(runs(harness.markers, t) >= 1 for t in ids), "all markers")


def test_routed_task_runs(harness: Harness) -> None:
    (task_id,) = _ids("r-", 1)
    harness.queue.enqueue(task_id, route=harness.route)
    wait_until(lambda: runs(harness.markers, task_id) >= 1, "the routed task")


def test_a_failing_task_does_not_stop_the_queue(harness: Harness) -> None:
    failing = _ids("fail-", 3)
    good = _ids("t-", 4)
    for task_id in failing + good:
        harness.queue.enqueue(task_id)
    wait_until(lambda: all(runs(harness.markers, t) == 1 for t in good), "tasks after failures")
    assert all(runs(harness.markers, t) == 0 for t in failing)


def test_kill_9_of_a_worker_child_mid_task(harness: Harness) -> None:
    (crash,) = _ids("crash-", 1)
    harness.queue.enqueue(crash)
    pid_file = harness.markers / f"{crash}.pid"
    wait_until(pid_file.exists, "the task to start")
    wait_until(lambda: pid_file.read_text().strip() != "", "the pid")
    os.kill(int(pid_file.read_text()), signal.SIGKILL)

    later = _ids("t-", 6)
    for task_id in later:
        harness.queue.enqueue(task_id)
    wait_until(lambda: all(runs(harness.markers, t) >= 1 for t in later), "tasks after the kill")
    # At-least-once: the killed task is handed out again and finishes on a new child.
    wait_until(lambda: runs(harness.markers, crash) == 1, "the killed task to be redelivered")
    attempts = (harness.markers / f"{crash}.attempts").read_text().split()
    assert len(attempts) == 2 and attempts[0] != attempts[1]


# -- in-process specifics --------------------------------------------------------------


def test_inprocess_dedupes_an_id_already_waiting_or_running(markers: Path) -> None:
    queue = InProcessQueue(write_marker, workers=1, stop_timeout_s=2)
    assert queue.readiness() is None  # no warm start: workers start with the first task
    ids = _ids("slow-", 2)
    for _ in range(3):
        for task_id in ids:
            queue.enqueue(task_id)
    assert queue.pending == 2
    queue.start()
    try:
        wait_until(lambda: queue.pending == 0, "the queue to drain")
        assert [runs(markers, t) for t in ids] == [1, 1]
        queue.enqueue(ids[0])  # finished ids may run again (the reaper re-dispatches)
        wait_until(lambda: runs(markers, ids[0]) == 2, "a second run")
    finally:
        queue.stop()


def test_inprocess_redelivery_after_crashes_is_capped(markers: Path) -> None:
    queue = InProcessQueue(write_marker, workers=1, max_redeliveries=2, stop_timeout_s=1)
    queue.start()
    try:
        (poison,) = _ids("die-", 1)
        queue.enqueue(poison)
        attempts = markers / f"{poison}.attempts"
        wait_until(lambda: queue.pending == 0, "the poison task to be given up")
        assert len(attempts.read_text().split()) == 3  # first run + 2 redeliveries
        (task_id,) = _ids("t-", 1)
        queue.enqueue(task_id)
        wait_until(lambda: runs(markers, task_id) == 1, "a task after the poison one")
        assert len(attempts.read_text().split()) == 3
    finally:
        queue.stop()


def test_inprocess_survives_an_idle_child_being_killed(markers: Path) -> None:
    queue = InProcessQueue(write_marker, workers=1, stop_timeout_s=1)
    queue.start()
    try:
        (first, second) = _ids("t-", 2)
        queue.enqueue(first)
        wait_until(lambda: runs(markers, first) == 1, "the first task")
        wait_until(lambda: queue.pending == 0, "the first task to be settled")
        os.kill(int((markers / f"{first}.runs").read_text()), signal.SIGKILL)
        queue.enqueue(second)
        wait_until(lambda: runs(markers, second) == 1, "a task after the idle child died")
        assert runs(markers, first) == 1
    finally:
        queue.stop()


def test_inprocess_stop_kills_running_tasks_and_refuses_new_ones(markers: Path) -> None:
    queue = InProcessQueue(write_marker, workers=1, stop_timeout_s=0.5)
    queue.start()
    (crash,) = _ids("crash-", 1)  # parks for a minute on its first run
    queue.enqueue(crash)
    pid_file = markers / f"{crash}.pid"
    wait_until(pid_file.exists, "the task to start")
    wait_until(lambda: pid_file.read_text().strip() != "", "the pid")
    pid = int(pid_file.read_text())
    queue.stop()
    wait_until(lambda: not _alive(pid), "the child to be gone")
    with pytest.raises(QueueError):
        queue.enqueue("t-after-stop")
    assert runs(markers, crash) == 0


def test_inprocess_restarts_after_stop(markers: Path) -> None:
    queue = InProcessQueue(write_marker, workers=1, stop_timeout_s=1)
    queue.start()
    queue.stop()
    queue.start()
    try:
        (task_id,) = _ids("t-", 1)
        queue.enqueue(task_id)
        wait_until(lambda: runs(markers, task_id) == 1, "a task after restart")
    finally:
        queue.stop()


def test_inprocess_warm_start_readies_every_worker_before_the_first_task(markers: Path) -> None:
    queue = InProcessQueue(write_marker, workers=2, stop_timeout_s=1, warm=warm_marker)
    assert queue.readiness() is None  # not started
    queue.start()
    try:

        def warmed() -> set[str]:
            return {p.name.removeprefix("warm-") for p in markers.glob("warm-*")}

        wait_until(lambda: queue.readiness() == (2, 2), "both workers to be ready")
        assert len(warmed()) == 2
        ids = _ids("t-", 4)
        for task_id in ids:
            queue.enqueue(task_id)
        wait_until(lambda: all(runs(markers, t) == 1 for t in ids), "the tasks")
        pids = {(markers / f"{t}.runs").read_text().strip() for t in ids}
        assert pids <= warmed()  # the warmed processes ran them: none was started late
    finally:
        queue.stop()


def test_inprocess_a_failed_warm_start_still_runs_tasks(markers: Path) -> None:
    queue = InProcessQueue(write_marker, workers=1, stop_timeout_s=1, warm=failing_warm)
    queue.start()
    try:
        wait_until(lambda: queue.readiness() == (1, 1), "the warm-up to end")
        (task_id,) = _ids("t-", 1)
        queue.enqueue(task_id)
        wait_until(lambda: runs(markers, task_id) == 1, "a task after a failed warm-up")
    finally:
        queue.stop()


def test_inprocess_each_start_has_an_identity_gone_once_it_stops(tmp_path: Path) -> None:
    queue = InProcessQueue(write_marker, workers=1, stop_timeout_s=1, presence_dir=tmp_path)
    other = InProcessQueue(write_marker, workers=1, stop_timeout_s=1, presence_dir=tmp_path)
    assert queue.instance is None and queue.gone(["anything"]) == set()
    queue.start()
    other.start()
    try:
        first = queue.instance
        assert first is not None and other.instance not in (None, first)
        assert other.gone([first]) == set() and queue.gone([first]) == set()
        queue.stop()
        assert queue.instance is None
        assert other.gone([first]) == {first}
        queue.start()
        second = queue.instance
        assert second is not None and second != first
        assert other.gone([first, second]) == {first}
    finally:
        queue.stop()
        other.stop()


def test_inprocess_without_a_presence_dir_has_no_identity(markers: Path) -> None:
    queue = InProcessQueue(write_marker, workers=1, stop_timeout_s=1)
    queue.start()
    try:
        assert queue.instance is None
        assert queue.gone(["a.0.b"]) == set()
    finally:
        queue.stop()


def test_inprocess_rejects_zero_workers() -> None:
    with pytest.raises(ValueError):
        InProcessQueue(write_marker, workers=0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; treat it as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


# -- Celery specifics ------------------------------------------------------------------


@pytest.mark.parametrize("url", ["redis://127.0.0.1:9/0", "amqp://guest:guest@127.0.0.1:9//"])
def test_celery_enqueue_to_a_dead_broker_raises_queue_error(url: str) -> None:
    queue = CeleryQueue(url)
    with pytest.raises(QueueError) as info:
        queue.enqueue("t-x")
    assert info.value.message == "task queue unavailable"


def test_celery_queue_has_no_identity() -> None:
    # The broker keeps its messages across API restarts: nothing is handed out again.
    queue = CeleryQueue("redis://127.0.0.1:9/0")
    assert queue.instance is None
    assert queue.gone(["a.0.b"]) == set()


def test_celery_app_delivery_settings() -> None:
    app = create_app("redis://127.0.0.1:6379/0", visibility_timeout_s=1234, set_as_current=False)
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 1234
    from cadenza.queue import celery_app

    assert TASK_NAME in celery_app.app.tasks
    task = celery_app.app.tasks[TASK_NAME]
    assert task.acks_late and task.reject_on_worker_lost


def test_celery_runner_is_resolved_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, markers: Path
) -> None:
    from cadenza.queue import celery_app

    monkeypatch.setenv(RUNNER_ENV, "queue_contract_jobs:write_marker")
    (task_id,) = _ids("t-", 1)
    celery_app.run_task(task_id)  # the task body, called directly
    assert runs(markers, task_id) == 1
    monkeypatch.setenv(RUNNER_ENV, "no-colon")
    with pytest.raises(ValueError):
        celery_app.run_task(task_id)
