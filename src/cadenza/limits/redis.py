"""Rate limits in Redis, so every API replica counts against the same window."""

from __future__ import annotations

import logging

from limits.errors import StorageError as LimitsStorageError
from limits.storage import RedisStorage

from cadenza.limits import RateLimiterUnavailable
from cadenza.limits._window import MovingWindowLimiter

log = logging.getLogger(__name__)


class RedisRateLimiter:
    """Moving-window limits per key id in Redis (atomic Lua script per hit).

    Timeouts are short so a dead Redis turns into a quick 502, not a hung request.
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "cadenza-limits",
        timeout_s: float = 2.0,
    ) -> None:
        try:
            storage = RedisStorage(
                url,
                key_prefix=key_prefix,
                wrap_exceptions=True,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
            )
        except (LimitsStorageError, ValueError) as exc:
            raise RateLimiterUnavailable("rate limiter unavailable") from exc
        self._window = MovingWindowLimiter(storage)

    def hit(self, key_id: str, limit_per_minute: int) -> int | None:
        try:
            return self._window.hit(key_id, limit_per_minute)
        except LimitsStorageError as exc:
            log.warning("rate limiter store failed: %s", type(exc.storage_error).__name__)
            raise RateLimiterUnavailable("rate limiter unavailable") from exc
