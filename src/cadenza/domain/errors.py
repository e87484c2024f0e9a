"""Domain errors. Each dialect maps these to its own error body in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a client may see; ``message`` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The request is malformed or breaks a documented limit (400)."""


class RemoteUrlRefused(InvalidInput):
    """A client-given URL was not fetched: its form, its address or its server's answer
    broke a rule. ``reason`` is a short code for logs and metrics; ``message`` names the
    field so the client knows which URL to fix."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unauthorized(DomainError):
    """No key, an unknown key or a revoked key (401)."""


class InsufficientCredits(DomainError):
    """The key's balance does not cover the price (402)."""


class Forbidden(DomainError):
    """The key may not call this (disabled price, admin-only route) (403)."""


class NotFound(DomainError):
    """Missing, or owned by another key: the two are indistinguishable (404)."""


class RateLimited(DomainError):
    """Too many requests per minute (429 with Retry-After)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConcurrencyLimited(DomainError):
    """Too many queued or running tasks for this key (429)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdempotencyConflict(DomainError):
    """The same Idempotency-Key was used with a different body (422)."""


class UpstreamUnavailable(DomainError):
    """A backend the request needs is down (502)."""


class DuplicateLedgerEntry(Exception):
    """A second refund (or charge) for the same task: blocked by the database."""


class EngineError(Exception):
    """An engine failed to produce a result; the task ends FAILURE with this reason."""


class IdempotencyKeyTaken(Exception):
    """A task of this key already has this Idempotency-Key (the database's unique index
    said so at insert). Not an error for clients: the submit answers that task."""
