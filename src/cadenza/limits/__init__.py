"""Per-key request rate limits: in-memory for one process, Redis for many."""

from __future__ import annotations

from cadenza.domain.errors import UpstreamUnavailable


class RateLimiterUnavailable(UpstreamUnavailable):
    """The shared limiter store cannot be reached; the request cannot be admitted safely."""


__all__ = ["RateLimiterUnavailable"]
