"""The Celery app for scale-out workers: ``celery -A cadenza.queue.celery_app worker``.

Delivery is at-least-once: a message is acknowledged only after the task returns
(``acks_late``) and is handed out again when its worker process dies
(``reject_on_worker_lost``), so the worker's runner must be idempotent (it is: a finished
task is a no-op and attempts are capped).

Environment:
- ``CADENZA_BROKER_URL``: Redis or AMQP URL (default ``redis://127.0.0.1:6379/0``).
- ``CADENZA_BROKER_VISIBILITY_TIMEOUT``: seconds before Redis redelivers an unacked
  message (default 3600; must exceed the longest task deadline).
- ``CADENZA_TASK_RUNNER``: ``module:function`` run for each task id
  (default ``cadenza.bootstrap:run_task``).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, cast

from celery import Celery, Task

log = logging.getLogger(__name__)

TASK_NAME = "cadenza.run_task"
DEFAULT_QUEUE = "cadenza"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_RUNNER = "cadenza.bootstrap:run_task"
BROKER_ENV = "CADENZA_BROKER_URL"
VISIBILITY_ENV = "CADENZA_BROKER_VISIBILITY_TIMEOUT"
RUNNER_ENV = "CADENZA_TASK_RUNNER"


def broker_url_from_env() -> str:
    return os.environ.get(BROKER_ENV) or DEFAULT_BROKER_URL


def create_app(
    broker_url: str | None = None,
    *,
    default_queue: str = DEFAULT_QUEUE,
    visibility_timeout_s: int | None = None,
    main: str = "cadenza",
    set_as_current: bool = True,
) -> Celery:
    """A configured Celery app; producers (the API) and workers share this configuration."""
    if visibility_timeout_s is None:
        visibility_timeout_s = int(os.environ.get(VISIBILITY_ENV) or 3600)
    celery = Celery(main, broker=broker_url or broker_url_from_env(), set_as_current=False)
    celery.conf.update(
        task_default_queue=default_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        # Without this, a broker reconnect redelivers a running task while it keeps running.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility_timeout_s},
        # A submit must not hang on a dead broker: fail fast, the reaper re-dispatches.
        broker_connection_timeout=2.0,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    )
    if set_as_current:
        celery.set_current()
    return celery


def worker_queue(worker_name: str, default_queue: str = DEFAULT_QUEUE) -> str:
    """The queue only the worker named ``worker_name`` consumes: the route for follow-ups."""
    return f"{default_queue}.worker.{worker_name}"


@functools.cache
def _resolve_runner(spec: str) -> Callable[[str], None]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{RUNNER_ENV} must look like module:function, got {spec!r}")
    runner = getattr(importlib.import_module(module_name), attr)
    if not callable(runner):
        raise ValueError(f"{spec} is not callable")
    return cast(Callable[[str], None], runner)


def task_runner() -> Callable[[str], None]:
    """The function this worker process runs for each task id (resolved once per process)."""
    return _resolve_runner(os.environ.get(RUNNER_ENV) or DEFAULT_RUNNER)


app = create_app()


def _run_task(task_id: str) -> None:
    task_runner()(task_id)


run_task: Task = app.task(
    name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)(_run_task)


def run_worker(
    queues: Sequence[str],
    *,
    concurrency: int = 1,
    hostname: str | None = None,
    loglevel: str = "INFO",
    pool: str = "prefork",
    broker_url: str | None = None,
) -> None:
    """Runs a worker in this process until it is stopped (used by ``cadenza worker``).

    To receive follow-ups routed to it, a worker named ``name`` consumes
    ``[DEFAULT_QUEUE, worker_queue(name)]``.
    """
    if broker_url:
        app.conf.broker_url = broker_url
    argv: list[Any] = [
        "worker",
        f"--queues={','.join(queues)}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--pool={pool}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)
