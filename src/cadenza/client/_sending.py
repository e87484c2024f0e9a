"""Sending a ``Request`` over httpx, shared by the blocking and the async client: what to
send, how to read the answer, and when a failed attempt is worth another."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from cadenza.client._protocol import Request, error_of

#: Statuses that say "not now" rather than "no": worth retrying.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_DELAY_S = 30.0


def user_agent() -> str:
    from cadenza import __version__

    return f"cadenza-client/{__version__}"


@contextlib.contextmanager
def arguments(req: Request, auth: dict[str, str], timeout_s: float) -> Iterator[dict[str, Any]]:
    """The keyword arguments of ``httpx.Client.request`` for ``req`` (a form's file is
    open while the block runs)."""
    headers = dict(req.headers)
    if req.keyed:
        headers.update(auth)
    kwargs: dict[str, Any] = {
        "method": req.method,
        "url": req.path,
        "headers": headers,
        "timeout": httpx.Timeout(req.timeout_s or timeout_s, connect=min(10.0, timeout_s)),
    }
    if req.params:
        kwargs["params"] = dict(req.params)
    if req.file is None:
        if req.json is not None:
            kwargs["json"] = req.json
        yield kwargs
        return
    name, path = req.file
    with path.open("rb") as handle:
        kwargs["data"] = dict(req.form or {})
        kwargs["files"] = {name: (path.name, handle)}
        yield kwargs


def decode(req: Request, response: httpx.Response) -> Any:
    """The answer's body, or ``ApiError`` with the server's code and message."""
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        raise error_of(response.status_code, body, response.text)
    if req.expect == "bytes":
        return response.content
    try:
        return response.json()
    except ValueError:
        raise error_of(response.status_code, None, "the answer is not JSON") from None


def retry_delay(
    req: Request,
    attempt: int,
    retries: int,
    backoff_s: float,
    *,
    response: httpx.Response | None = None,
    error: Exception | None = None,
) -> float | None:
    """Seconds to wait before the next attempt, or None: do not retry.

    A request that never reached the server (no connection) is always worth another; one
    that may have (a timeout, a dropped answer, a 502/503/504) only if a retry cannot do
    the work twice (``retry_safe``: reads, and submits with an Idempotency-Key). A 429
    did nothing and says how long to wait."""
    if attempt >= retries:
        return None
    delay = min(MAX_DELAY_S, backoff_s * 2.0**attempt)
    if error is not None:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return delay
        if isinstance(error, httpx.TransportError) and req.retry_safe:
            return delay
        return None
    if response is None or response.status_code not in RETRY_STATUSES:
        return None
    if response.status_code == 429:
        try:
            return min(60.0, max(delay, float(response.headers.get("Retry-After", ""))))
        except ValueError:
            return delay
    return delay if req.retry_safe else None
