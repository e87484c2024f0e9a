"""Rate limits kept in this process: right for the single-machine default."""

from __future__ import annotations

from limits.storage import MemoryStorage

from cadenza.limits._window import MovingWindowLimiter


class MemoryRateLimiter:
    """Moving-window limits per key id, shared by every thread of this process only."""

    def __init__(self) -> None:
        self._window = MovingWindowLimiter(MemoryStorage())

    def hit(self, key_id: str, limit_per_minute: int) -> int | None:
        return self._window.hit(key_id, limit_per_minute)
