"""Webhook signatures, the retry schedule, and single deliveries to real receivers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import time
from collections.abc import Callable

import pytest
from net_servers import Handler, RawServer, Request, respond, silent

from cadenza.net import DeliveryResult, RetryPolicy, deliver, safe_async_client, sign, verify

Serve = Callable[[Handler], RawServer]
SECRET = "whsec_test"
BODY = json.dumps({"task_id": "t1", "status": "SUCCESS"}).encode()


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_round_trip_and_tampering() -> None:
    now = 1_700_000_000
    header = sign(SECRET, BODY, now)
    assert verify(SECRET, header, BODY, now=now + 10)
    assert not verify(SECRET, header, BODY + b" ", now=now)
    assert not verify(SECRET, header, BODY.replace(b"SUCCESS", b"FAILURE"), now=now)
    assert not verify("another secret", header, BODY, now=now)
    forged = header.replace(f"t={now}", f"t={now + 60}")
    assert not verify(SECRET, forged, BODY, now=now + 60)


def test_verify_rejects_stale_and_future_timestamps() -> None:
    now = 1_700_000_000
    header = sign(SECRET, BODY, now)
    assert verify(SECRET, header, BODY, now=now + 300)
    assert not verify(SECRET, header, BODY, now=now + 301)
    assert not verify(SECRET, header, BODY, now=now - 301)
    assert verify(SECRET, header, BODY, now=now + 3000, tolerance_s=3600)
    assert verify(SECRET, sign(SECRET, BODY, int(time.time())), BODY)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=,v1=00", "t=abc,v1=00", "v1=00", "t=1700000000", "t=-1,v1=00"],
)
def test_verify_rejects_malformed_headers(header: str) -> None:
    assert not verify(SECRET, header, BODY, now=1_700_000_000)


def test_verify_accepts_any_of_several_signatures() -> None:
    now = 1_700_000_000
    good = sign(SECRET, BODY, now).split(",")[1]
    assert verify(SECRET, f"t={now},v1={'0' * 64},{good}", BODY, now=now)
    assert not verify(SECRET, f"t={now},v1={'0' * 64},v0={good[3:]}", BODY, now=now)


def test_retry_delays_are_full_jitter_under_the_exponential_cap() -> None:
    policy = RetryPolicy()
    rng = random.Random(7)
    for attempt in range(1, 20):
        bound = min(600.0, 2.0 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # spread over the whole range, not a fixed step
    assert policy.delay(10_000, rng) <= 600.0
    assert RetryPolicy().delay(3, random.Random(1)) == RetryPolicy().delay(3, random.Random(1))
    assert [policy.gives_up_after(n) for n in (1, 7, 8)] == [False, False, True]


def _flaky(failures: int) -> Handler:
    seen = {"n": 0}

    def handle(conn: socket.socket, request: Request) -> None:
        seen["n"] += 1
        status = "503 Service Unavailable" if seen["n"] <= failures else "200 OK"
        respond(status, body=b"{}")(conn, request)

    return handle


def test_retries_carry_the_same_event_id_until_delivered(serve: Serve) -> None:
    receiver = serve(_flaky(2))
    policy = RetryPolicy(base_s=0.01, cap_s=0.05, max_attempts=8)
    rng = random.Random(3)

    async def run() -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        async with safe_async_client(allow_private=True) as client:
            attempt = 0
            while True:
                attempt += 1
                result = await deliver(
                    client, receiver.url("/hook"), BODY, event_id="evt_1", secret=SECRET
                )
                results.append(result)
                if result.delivered or not result.retryable or policy.gives_up_after(attempt):
                    return results
                await asyncio.sleep(policy.delay(attempt, rng))

    results = asyncio.run(run())
    assert results == [
        DeliveryResult(False, 503, True, "answered HTTP 503"),
        DeliveryResult(False, 503, True, "answered HTTP 503"),
        DeliveryResult(True, 200, False, None),
    ]
    assert len(receiver.requests) == 3
    for request in receiver.requests:
        assert request.method == "POST"
        assert request.target == "/hook"
        assert request.body == BODY
        assert request.headers["x-cadenza-event-id"] == "evt_1"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == "Cadenza-Webhooks"
        assert verify(SECRET, request.headers["x-cadenza-signature"], request.body)


def _deliver(url: str, *, allow_private: bool, timeout_s: float = 5.0) -> DeliveryResult:
    async def run() -> DeliveryResult:
        async with safe_async_client(allow_private=allow_private) as client:
            return await deliver(
                client, url, BODY, event_id="evt_2", secret=SECRET, timeout_s=timeout_s
            )

    return asyncio.run(run())


def test_a_private_callback_is_refused_and_not_retried(serve: Serve) -> None:
    receiver = serve(respond())
    for host in ("127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]"):
        result = _deliver(receiver.url(host=host), allow_private=False)
        assert result == DeliveryResult(
            False, None, False, "callback_url points to a private or local address"
        )
    assert receiver.connections == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://example.com/", "http://u:p@x.io/"])
def test_a_malformed_callback_is_not_retried(url: str) -> None:
    result = _deliver(url, allow_private=True)
    assert (result.delivered, result.retryable, result.status) == (False, False, None)


def test_an_unreachable_receiver_is_retried() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    result = _deliver(f"http://127.0.0.1:{port}/hook", allow_private=True)
    assert (result.delivered, result.retryable, result.status) == (False, True, None)
    assert result.error


def test_a_silent_receiver_is_cut_at_the_timeout(serve: Serve) -> None:
    receiver = serve(silent())
    started = time.monotonic()
    result = _deliver(receiver.url(), allow_private=True, timeout_s=0.5)
    assert time.monotonic() - started < 2.5
    assert result == DeliveryResult(False, None, True, "no answer within 0.5 s")


def test_the_receivers_answer_is_not_read_beyond_a_few_kb(serve: Serve) -> None:
    outcome: dict[str, bool] = {}

    def flood(conn: socket.socket, request: Request) -> None:
        size = 64 * 1024 * 1024
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        try:
            block = b"x" * (1024 * 1024)
            for _ in range(64):
                conn.sendall(block)
            outcome["sent_all"] = True
        except OSError:
            outcome["sent_all"] = False

    receiver = serve(flood)
    started = time.monotonic()
    result = _deliver(receiver.url(), allow_private=True)
    assert result == DeliveryResult(True, 200, False, None)
    assert time.monotonic() - started < 5
    receiver.close()
    assert outcome == {"sent_all": False}
