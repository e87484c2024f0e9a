"""AceData's ``callback_url`` against a real server, a real song and a real receiver.

The receiver (a threading HTTP server in the test) fails the first attempts, then accepts.
The server may call it only because it runs with ``CADENZA_ALLOW_PRIVATE_URLS=true``; a
second server, without that setting, refuses callback URLs on loopback, link-local and
numeric-host spellings before anything is charged.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from acedata_checks import assert_clip
from e2e_serving import Server, cli, launch, stop

from cadenza.domain.callbacks import BACKOFF_BASE_S
from cadenza.net.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, verify

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("cadenza.compose.pipeline") is None,
        reason="the built-in engine cadenza.compose.pipeline is absent",
    ),
]

HEADERS = {"accept": "application/json", "content-type": "application/json"}
#: Attempts the receiver refuses before it accepts one.
REFUSED = 2
#: Seconds between two passes of the server's callback dispatcher (set below).
INTERVAL_S = 0.2


@dataclass
class Delivery:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers 500 to the first ``refuse`` POSTs, 200 after; records every one."""

    refuse: int
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.deliveries.append(
                        Delivery(time.monotonic(), dict(self.headers.items()), body)
                    )
                    status = 500 if len(receiver.deliveries) <= receiver.refuse else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def accepted(self) -> bool:
        with self.lock:
            return len(self.deliveries) > self.refuse


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver(refuse=REFUSED)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}/suno/hook"
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_key(server: Server, credits: str = "100") -> tuple[str, str, str]:
    """(key id, API key, callback secret): the id and key from ``keys create``, the
    secret from ``keys secret <id>``, as an operator would look it up."""
    out = cli(server, "keys", "create", "--credits", credits, "--name", "hooks")
    lines = out.strip().splitlines()
    key_id = next(line for line in lines if line.startswith("created key")).split()[2]
    api_key = lines[-1].split()[-1]
    secret = cli(server, "keys", "secret", key_id).strip()
    assert f"callback signing secret: {secret}" in out
    return key_id, api_key, secret


def balance_and_ledger(http: httpx.Client, key: str) -> tuple[float, list[dict[str, Any]]]:
    me = http.get("/suno/billing/me", headers={"X-API-Key": key}).json()
    rows = http.get("/suno/billing/transactions", headers={"X-API-Key": key}).json()["data"]
    return me["data"]["api_key"]["credits_balance"], [r for r in rows if r["task_id"]]


def test_the_final_answer_is_posted_signed_and_retried_under_one_event_id(
    tmp_path: Any, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    server = launch(
        tmp_path,
        env_extra={
            "CADENZA_ALLOW_PRIVATE_URLS": "true",
            "CADENZA_CALLBACK_INTERVAL_S": str(INTERVAL_S),
        },
    )
    http = httpx.Client(base_url=server.base, timeout=60)
    try:
        _, key, secret = make_key(server)
        auth = {**HEADERS, "authorization": f"Bearer {key}"}
        body = {
            "action": "generate",
            "prompt": "a short calm instrumental",
            "instrumental": True,
            "model": "chirp-v4",
            "callback_url": url,
        }
        answer = http.post("/suno/audios", json=body, headers=auth)
        assert answer.status_code == 200, answer.text
        accepted = answer.json()
        assert list(accepted) == ["success", "task_id", "trace_id", "data"]
        assert accepted["success"] is True and accepted["data"] == []

        deadline = time.monotonic() + 300
        while not state.accepted():
            assert time.monotonic() < deadline, f"no accepted delivery: {state.deliveries}"
            time.sleep(0.1)
        time.sleep(3 * INTERVAL_S + BACKOFF_BASE_S)  # room for a stray extra attempt
        deliveries = list(state.deliveries)
        assert len(deliveries) == REFUSED + 1, deliveries

        # One event, one frozen body, each attempt signed afresh with the key's secret.
        assert len({d.headers[EVENT_ID_HEADER] for d in deliveries}) == 1
        assert len({d.body for d in deliveries}) == 1
        for delivery in deliveries:
            assert delivery.headers["Content-Type"] == "application/json"
            signature = delivery.headers[SIGNATURE_HEADER]
            assert verify(secret, signature, delivery.body)
            assert not verify(secret + "x", signature, delivery.body)
            assert not verify(secret, signature, delivery.body + b" ")

        # Backoff with full jitter: after failed attempt n the next one is due within
        # base * 2**(n-1) s (plus the dispatcher's pass and a busy machine's slack).
        for n, (before, after) in enumerate(itertools.pairwise(deliveries), 1):
            bound = BACKOFF_BASE_S * 2 ** (n - 1) + INTERVAL_S + 2.0
            assert 0 < after.at - before.at <= bound, (n, after.at - before.at)

        # The body is the final sync answer, the one a blocking request would have got.
        posted = json.loads(deliveries[-1].body)
        assert list(posted) == ["success", "task_id", "trace_id", "data"]
        assert posted["success"] is True
        assert posted["task_id"] == accepted["task_id"]
        assert posted["trace_id"] == accepted["trace_id"]
        assert len(posted["data"]) == 2
        for clip in posted["data"]:
            assert_clip(http, clip, model="chirp-v4")
        record = http.post(
            "/suno/tasks", json={"id": accepted["task_id"], "action": "retrieve"}, headers=auth
        ).json()
        assert record["state"] == "complete" and record["response"] == posted
        assert record["request"] == body

        balance, rows = balance_and_ledger(http, key)
        assert [(r["action"], r["transaction_type"]) for r in rows] == [("MUSIC", "CONSUME")]
        assert balance == 100 + rows[0]["change_amount"]
    finally:
        http.close()
        stop(server)


def test_private_callback_urls_are_refused_before_any_charge(
    tmp_path: Any, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    server = launch(tmp_path)  # CADENZA_ALLOW_PRIVATE_URLS unset: the safe default
    http = httpx.Client(base_url=server.base, timeout=60)
    try:
        _, key, _ = make_key(server)
        auth = {**HEADERS, "authorization": f"Bearer {key}"}
        refused = [
            url,
            "http://169.254.169.254/latest/meta-data/",
            "http://2130706433/",
            "http://0x7f000001/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://localhost/hook",
        ]
        for target in refused:
            for extra in ({}, {"async": True}):
                body = {"action": "generate", "prompt": "a song", "callback_url": target, **extra}
                answer = http.post("/suno/audios", json=body, headers=auth)
                assert answer.status_code == 400, (target, answer.text)
                error = answer.json()
                assert error["success"] is False and error["trace_id"]
                assert error["error"]["code"] == "bad_request", error
                assert "callback_url" in error["error"]["message"], error
        balance, rows = balance_and_ledger(http, key)
        assert balance == 100 and rows == []
        time.sleep(1)
        assert state.deliveries == []
    finally:
        http.close()
        stop(server)
