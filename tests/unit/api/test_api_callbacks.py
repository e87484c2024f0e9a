"""The API process sends the callback outbox: the dispatcher runs for the app's lifetime
and counts its outcomes in /metrics."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from cadenza.api.app import create_app
from cadenza.bootstrap import Container
from cadenza.domain.callbacks import Callback, DeliveryStatus
from cadenza.domain.tasks import TaskView
from cadenza.services import keys, tasks

WAIT_S = 15.0  # a liveness bound, not a speed target


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, str, str]] = []

    async def send(
        self, url: str, body: bytes, event_id: str, secret: str
    ) -> tuple[bool, bool, str | None]:
        self.sent.append((url, body, event_id, secret))
        return True, False, None


def render(view: TaskView) -> bytes:
    return json.dumps({"id": view.task.id, "clips": len(view.clips)}).encode()


def test_a_finished_tasks_callback_is_sent_while_the_app_runs(
    container: Container, queue: Any
) -> None:
    sender = RecordingSender()
    container.callback_sender = sender
    container.callback_renderers.register("test", render)
    container.settings.callback_interval_s = 0.05
    key, _ = keys.create_key(container.uow, name="hooks", credits=Decimal(100))
    task = tasks.submit_music(
        container.uow,
        queue,
        key,
        {"prompt": "[Verse]\nla la", "tags": "pop", "mv": "chirp-v4"},
        callback=Callback("https://example.com/done", "test"),
    )
    with TestClient(create_app(container, manage_queue=False)) as client:
        deadline = time.monotonic() + WAIT_S
        while not sender.sent:
            assert time.monotonic() < deadline, "the callback was never sent"
            time.sleep(0.02)
        metrics = client.get("/metrics").text
    (url, body, event_id, secret) = sender.sent[0]
    assert url == "https://example.com/done" and secret == key.callback_secret
    assert json.loads(body) == {"id": task.id, "clips": 2}
    with container.uow(read_only=True) as u:
        (delivery,) = u.callbacks.for_task(task.id)
    assert delivery.event_id == event_id and delivery.status is DeliveryStatus.DELIVERED
    assert 'cadenza_callback_deliveries_total{outcome="delivered"} 1.0' in metrics


def test_without_a_sender_deliveries_wait(container: Container, queue: Any) -> None:
    assert container.callback_sender is None
    key, _ = keys.create_key(container.uow, name="hooks", credits=Decimal(100))
    task = tasks.submit_music(
        container.uow,
        queue,
        key,
        {"prompt": "[Verse]\nla la", "tags": "pop", "mv": "chirp-v4"},
        callback=Callback("https://example.com/done", "test"),
    )
    with TestClient(create_app(container, manage_queue=False)):
        pass
    with container.uow(read_only=True) as u:
        (delivery,) = u.callbacks.for_task(task.id)
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == 0
