"""Hands task ids to Celery workers through a Redis or RabbitMQ broker."""

from __future__ import annotations

import logging
from collections.abc import Collection

from cadenza.queue import QueueError
from cadenza.queue.celery_app import DEFAULT_QUEUE, TASK_NAME, create_app

log = logging.getLogger(__name__)


class CeleryQueue:
    """Producer side of the Celery queue; ``route`` names the queue (a worker's own queue
    for follow-ups whose files live on that worker), else the shared default queue.
    """

    def __init__(self, broker_url: str, *, default_queue: str = DEFAULT_QUEUE) -> None:
        self._default_queue = default_queue
        self._app = create_app(
            broker_url, default_queue=default_queue, main="cadenza-producer", set_as_current=False
        )

    def enqueue(self, task_id: str, *, route: str | None = None) -> None:
        try:
            self._app.send_task(TASK_NAME, args=[task_id], queue=route or self._default_queue)
        except Exception as exc:
            # kombu, redis-py and amqp each raise their own types; any of them means the
            # task was not handed over, which the caller must know (it stays undispatched).
            log.warning("enqueue of %s failed: %s", task_id, type(exc).__name__)
            raise QueueError("task queue unavailable") from exc

    def start(self) -> None:
        """Nothing to start: connections are opened on first use."""

    def stop(self) -> None:
        self._app.close()

    @property
    def instance(self) -> None:
        """None: the broker keeps its messages across API restarts, and a worker that dies
        mid-task has it redelivered (acks_late), so nothing is handed out again here."""
        return None

    def gone(self, instances: Collection[str]) -> set[str]:
        """Nothing this producer can tell; tasks of in-process queues wait for stall
        detection and deadlines."""
        return set()
