"""Callbacks: a POST to the client's URL when its task ends, kept in an outbox so that a
restart or a receiver that is down loses none.

A delivery row is written in the transaction that finishes the task. Its body is rendered
by the dialect that took the task, once, at the first attempt, and then frozen, so every
retry sends the same bytes under the same ``event_id`` (the receiver's deduplication key).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cadenza.domain.errors import InvalidInput
from cadenza.domain.tasks import Task, new_id, utcnow

MAX_CALLBACK_URL = 2000
#: Retries: exponential backoff with full jitter, from 2 s up to 10 minutes, 8 attempts.
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 600.0
MAX_ATTEMPTS = 8
MAX_ERROR = 500


@dataclass(frozen=True)
class Callback:
    """Where to POST a task's outcome, and which dialect renders the body.

    Only the form is checked here; whether the address may be reached (no loopback,
    private or metadata addresses) is the sender's check, at each send, after DNS.
    """

    url: str
    dialect: str

    def __post_init__(self) -> None:
        url = self.url.strip()
        if not url or len(url) > MAX_CALLBACK_URL:
            raise InvalidInput(f"callback_url must be 1 to {MAX_CALLBACK_URL} characters")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("callback_url must be an http or https URL")
        if parts.username is not None or parts.password is not None:
            raise InvalidInput("callback_url must not carry credentials")
        if not self.dialect:
            raise ValueError("a callback needs the dialect that renders it")
        object.__setattr__(self, "url", url)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass
class CallbackDelivery:
    event_id: str
    task_id: str
    key_id: str
    url: str
    dialect: str
    #: Rendered at the first attempt, then never again (None until then).
    body: bytes | None = None
    attempts: int = 0
    next_attempt_at: datetime = field(default_factory=utcnow)
    status: DeliveryStatus = DeliveryStatus.PENDING
    last_error: str = ""
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    delivered_at: datetime | None = None


def delivery_for(task: Task, now: datetime | None = None) -> CallbackDelivery | None:
    """The delivery a finished task owes its client, if it asked for one."""
    if not task.status.finished or not task.callback_url or not task.callback_dialect:
        return None
    moment = now or utcnow()
    return CallbackDelivery(
        event_id=new_id(),
        task_id=task.id,
        key_id=task.key_id,
        url=task.callback_url,
        dialect=task.callback_dialect,
        next_attempt_at=moment,
        created_at=moment,
        updated_at=moment,
    )


def backoff_s(
    attempts: int,
    *,
    base_s: float = BACKOFF_BASE_S,
    cap_s: float = BACKOFF_CAP_S,
    draw: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: full jitter, uniform
    between 0 and ``min(cap, base * 2**(attempts - 1))``, so receivers that came back up
    are not hit by every sender at once."""
    ceiling = min(cap_s, base_s * 2 ** max(0, attempts - 1))
    return max(0.0, draw(0.0, ceiling))


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt did to a delivery: its new status and when to try again."""

    status: DeliveryStatus
    next_attempt_at: datetime
    last_error: str


def after_attempt(
    attempts: int,
    delivered: bool,
    retryable: bool,
    error: str | None,
    now: datetime,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    draw: Callable[[float, float], float] = random.uniform,
) -> AttemptOutcome:
    """``attempts`` counts the one just made."""
    if delivered:
        return AttemptOutcome(DeliveryStatus.DELIVERED, now, "")
    reason = (error or "delivery failed")[:MAX_ERROR]
    if not retryable or attempts >= max_attempts:
        return AttemptOutcome(DeliveryStatus.FAILED, now, reason)
    wait = backoff_s(attempts, draw=draw)
    return AttemptOutcome(DeliveryStatus.PENDING, now + timedelta(seconds=wait), reason)
