"""Signed webhook deliveries: one attempt at a time, plus the retry schedule.

The signature is Stripe's scheme so receivers can reuse what they know:
``X-Cadenza-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``. The
timestamp is signed with the body, so a captured delivery cannot be replayed once it is
older than the receiver's tolerance. The durable loop (outbox rows, when to try next)
lives with the task events; this module gives it a single attempt and the delays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
import weakref
from dataclasses import dataclass

import anyio
import httpx

from cadenza.domain.errors import RemoteUrlRefused
from cadenza.net.policy import AddressRefused, check_url, private_message

SIGNATURE_HEADER = "X-Cadenza-Signature"
EVENT_ID_HEADER = "X-Cadenza-Event-Id"
USER_AGENT = "Cadenza-Webhooks"
#: Bytes of a receiver's answer read before the connection is dropped: enough to let a
#: short answer finish (and the connection be reused), never a receiver-sized buffer.
RESPONSE_READ_LIMIT = 4096


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Cadenza-Signature`` value for ``body`` sent at ``timestamp`` (unix s)."""
    return f"t={timestamp},v1={_mac(secret, body, timestamp)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of now.

    Several ``v1`` entries are accepted (a sender rotating secrets signs with both);
    every comparison is constant-time. Anything malformed is simply not valid.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not value.isdigit():
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _mac(secret, body, timestamp)
    matched = False
    for candidate in candidates:
        # No early exit: the time taken does not say which entry matched.
        matched |= hmac.compare_digest(expected, candidate)
    return matched


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter (a uniform delay up to the exponential
    bound), so receivers coming back from an outage are not hit by synchronised waves."""

    base_s: float = 2.0
    cap_s: float = 600.0
    max_attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        exponent = min(max(attempt - 1, 0), 62)
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2.0**exponent))

    def gives_up_after(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` was the last one allowed."""
        return attempt >= self.max_attempts


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    delivered: bool
    #: The receiver's HTTP status, None when no answer came.
    status: int | None
    #: Whether trying again later may succeed; False when the URL itself is refused.
    retryable: bool
    error: str | None = None


async def _read_some(response: httpx.Response, limit: int) -> None:
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= limit:
            break


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    event_id: str,
    secret: str,
    timeout_s: float = 10.0,
    timestamp: int | None = None,
    field: str = "callback_url",
) -> DeliveryResult:
    """POST one signed delivery of ``body`` to ``url``; never raises for the receiver's
    faults. ``client`` must come from :func:`cadenza.net.safe_async_client`: its
    connections are what keeps the URL off private addresses. Each attempt is signed
    afresh (a retry hours later would be stale otherwise) with the same ``event_id``,
    which receivers use to drop duplicates. ``timeout_s`` bounds the whole attempt."""
    try:
        check_url(url, field=field, allow_private=True)
    except RemoteUrlRefused as exc:
        return DeliveryResult(False, None, False, exc.message)
    sent_at = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, body, sent_at),
        EVENT_ID_HEADER: event_id,
    }
    try:
        with anyio.fail_after(timeout_s):
            async with client.stream(
                "POST", url, content=body, headers=headers, timeout=timeout_s
            ) as response:
                status = response.status_code
                await _read_some(response, RESPONSE_READ_LIMIT)
    except AddressRefused:
        return DeliveryResult(False, None, False, private_message(field))
    except (TimeoutError, httpx.TimeoutException):
        return DeliveryResult(False, None, True, f"no answer within {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return DeliveryResult(False, None, True, f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return DeliveryResult(True, status, False)
    return DeliveryResult(False, status, True, f"answered HTTP {status}")


class WebhookSender:
    """The ``CallbackSender`` of the callback outbox: ``deliver`` over a safe client, one
    per event loop (an httpx client is bound to the loop that first used it)."""

    def __init__(self, *, allow_private: bool = False, timeout_s: float = 10.0) -> None:
        self._allow_private = allow_private
        self._timeout_s = timeout_s
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]
        self._clients = weakref.WeakKeyDictionary()

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from cadenza.net.transport import safe_async_client

            client = safe_async_client(allow_private=self._allow_private)
            self._clients[loop] = client
        return client

    async def send(
        self, url: str, body: bytes, event_id: str, secret: str
    ) -> tuple[bool, bool, str | None]:
        result = await deliver(
            self._client(), url, body, event_id=event_id, secret=secret, timeout_s=self._timeout_s
        )
        return result.delivered, result.retryable, result.error

    async def aclose(self) -> None:
        """Closes this loop's client (at shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
