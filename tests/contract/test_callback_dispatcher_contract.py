"""The callback dispatcher against a local HTTP receiver, on SQLite and PostgreSQL: retries
send the same bytes under the same event id, give up in time, and a restarted process
resumes what the last one left pending or half sent."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from cadenza.db import create_engine_for, uow_factory
from cadenza.domain.billing import ApiKey, new_api_key
from cadenza.domain.callbacks import CallbackDelivery, DeliveryStatus
from cadenza.domain.tasks import Task, TaskStatus, TaskView, new_id, utcnow
from cadenza.services import tasks
from cadenza.services.callbacks import CallbackDispatcher, CallbackRenderers
from cadenza.services.ports import CallbackSender, UnitOfWorkFactory

MigratedEngine = Callable[..., AbstractContextManager[Engine]]
WAIT_S = 15.0  # a liveness bound, not a speed target


@pytest.fixture(scope="module")
def db_engine(database_kind: str, migrated_engine: MigratedEngine) -> Iterator[Engine]:
    with migrated_engine(database_kind, "cadenza_callbacks") as engine:
        yield engine


@pytest.fixture
def uow(db_engine: Engine) -> UnitOfWorkFactory:
    return uow_factory(db_engine)


class Receiver:
    """An HTTP server on loopback that answers the statuses it is told, in turn."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.seen: list[tuple[str, bytes, str]] = []  # event id, body, signature
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.seen.append(
                    (self.headers["X-Event-Id"], body, self.headers["X-Signature"])
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


def sign(secret: str, event_id: str, body: bytes) -> str:
    return hmac.new(secret.encode(), event_id.encode() + b"." + body, hashlib.sha256).hexdigest()


class HttpSender:
    """A minimal sender for tests: no address checks (the receiver is on loopback)."""

    def __init__(self) -> None:
        self.hold: asyncio.Event | None = None

    async def send(
        self, url: str, body: bytes, event_id: str, secret: str
    ) -> tuple[bool, bool, str | None]:
        if self.hold is not None:
            await self.hold.wait()  # a process that dies mid-send
        headers = {"X-Event-Id": event_id, "X-Signature": sign(secret, event_id, body)}
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.post(url, content=body, headers=headers)
        if answer.is_success:
            return True, False, None
        retryable = answer.status_code >= 500 or answer.status_code in (408, 429)
        return False, retryable, f"HTTP {answer.status_code}"


class Rendered:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, view: TaskView) -> bytes:
        self.calls += 1
        task = view.task
        body = {"task_id": task.id, "status": task.status.value, "reason": task.fail_reason}
        return json.dumps({**body, "clips": [c.id for c in view.clips]}).encode()


def finished_task(uow: UnitOfWorkFactory, url: str) -> tuple[ApiKey, Task, CallbackDelivery]:
    key, _ = new_api_key("hooks", credits=Decimal(0))
    task = Task(
        id=new_id(),
        key_id=key.id,
        action="MUSIC",
        params={},
        price=Decimal(0),
        status=TaskStatus.QUEUED,
        callback_url=url,
        callback_dialect="test",
    )
    with uow() as u:
        u.keys.add(key)
        u.tasks.add(task)
        u.commit()
    assert tasks.settle_failure(uow, task.id, "no luck")
    with uow(read_only=True) as u:
        (delivery,) = u.callbacks.for_task(task.id)
    return key, task, delivery


def dispatcher(
    uow: UnitOfWorkFactory,
    sender: CallbackSender,
    renderer: Rendered,
    outcomes: list[str],
    *,
    clock: Callable[[], datetime] = utcnow,
    backoff_s: float = 0.0,
    **options: Any,
) -> CallbackDispatcher:
    renderers = CallbackRenderers()
    renderers.register("test", renderer)
    return CallbackDispatcher(
        uow,
        renderers,
        sender,
        on_outcome=outcomes.append,
        clock=clock,
        draw=lambda low, high: backoff_s,  # retries due at once by default
        **options,
    )


def stored(uow: UnitOfWorkFactory, event_id: str) -> CallbackDelivery:
    with uow(read_only=True) as u:
        found = u.callbacks.get(event_id)
    assert found is not None
    return found


def test_retries_send_the_same_bytes_under_the_same_id(
    uow: UnitOfWorkFactory, receiver: Receiver
) -> None:
    key, task, delivery = finished_task(uow, receiver.url)
    receiver.statuses = [500, 503, 200]
    renderer, outcomes = Rendered(), []
    sending = dispatcher(uow, HttpSender(), renderer, outcomes)

    async def three_passes() -> None:
        for _ in range(3):
            await sending.run_once()

    asyncio.run(three_passes())

    assert outcomes == ["retry", "retry", "delivered"]
    assert renderer.calls == 1  # rendered once, frozen
    assert len(receiver.seen) == 3
    assert {event_id for event_id, _, _ in receiver.seen} == {delivery.event_id}
    bodies = {body for _, body, _ in receiver.seen}
    assert len(bodies) == 1
    body = bodies.pop()
    assert json.loads(body)["task_id"] == task.id and json.loads(body)["status"] == "FAILURE"
    assert all(
        sig == sign(key.callback_secret, delivery.event_id, body) for *_, sig in receiver.seen
    )
    done = stored(uow, delivery.event_id)
    assert done.status is DeliveryStatus.DELIVERED and done.attempts == 3 and done.body == body
    assert done.delivered_at is not None and done.last_error == ""
    asyncio.run(sending.run_once())
    assert len(receiver.seen) == 3  # delivered: never sent again


def test_it_gives_up_on_a_refusal_and_after_the_last_attempt(
    uow: UnitOfWorkFactory, receiver: Receiver
) -> None:
    _, _, refused = finished_task(uow, receiver.url)
    receiver.statuses = [404]
    outcomes: list[str] = []
    sending = dispatcher(uow, HttpSender(), Rendered(), outcomes, max_attempts=3)
    asyncio.run(sending.run_once())
    gone = stored(uow, refused.event_id)
    assert gone.status is DeliveryStatus.FAILED and gone.attempts == 1
    assert gone.last_error == "HTTP 404" and outcomes == ["failed"]

    _, _, broken = finished_task(uow, receiver.url)
    receiver.statuses = [500] * 5
    outcomes.clear()

    async def passes() -> None:
        for _ in range(4):
            await sending.run_once()

    asyncio.run(passes())
    assert outcomes == ["retry", "retry", "failed"]
    gave_up = stored(uow, broken.event_id)
    assert gave_up.status is DeliveryStatus.FAILED and gave_up.attempts == 3


def test_a_restart_resumes_pending_and_half_sent_deliveries(
    db_engine: Engine, receiver: Receiver
) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    first_engine = create_engine_for(url)
    first = uow_factory(first_engine)
    _, _, retried = finished_task(first, receiver.url)
    receiver.statuses = [502]
    renderer, outcomes = Rendered(), []
    retry_in = 10.0
    asyncio.run(dispatcher(first, HttpSender(), renderer, outcomes, backoff_s=retry_in).run_once())
    assert outcomes == ["retry"]  # pending, due again in 10 s

    # The process dies while sending the next one: the claim (and its lease) stays.
    _, _, half_sent = finished_task(first, receiver.url)
    stuck = HttpSender()
    stuck.hold = asyncio.Event()
    lease_s = 30.0

    async def die_mid_send() -> None:
        sending = dispatcher(first, stuck, renderer, [], lease_s=lease_s)
        attempt = asyncio.create_task(sending.run_once())
        for _ in range(int(WAIT_S / 0.01)):
            if stored(first, half_sent.event_id).body is not None:
                break
            await asyncio.sleep(0.01)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt

    asyncio.run(die_mid_send())
    first_engine.dispose()
    assert len(receiver.seen) == 1

    # A new process on the same database, once the dead one's lease has run out.
    second_engine = create_engine_for(url)
    try:
        second = uow_factory(second_engine)
        later = lambda: utcnow() + timedelta(seconds=lease_s + 1)  # noqa: E731
        outcomes = []
        resumed = dispatcher(second, HttpSender(), renderer, outcomes, clock=later)

        async def until_done() -> None:
            resumed.start()
            for _ in range(int(WAIT_S / 0.02)):
                if sorted(outcomes) == ["delivered", "delivered"]:
                    break
                await asyncio.sleep(0.02)
            await resumed.stop()

        asyncio.run(until_done())
        assert sorted(outcomes) == ["delivered", "delivered"]
        for delivery in (retried, half_sent):
            done = stored(second, delivery.event_id)
            assert done.status is DeliveryStatus.DELIVERED and done.attempts == 2
        sent = [event_id for event_id, _, _ in receiver.seen]
        assert sorted(sent[1:]) == sorted([retried.event_id, half_sent.event_id])
    finally:
        second_engine.dispose()
