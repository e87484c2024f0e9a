"""The moving-window logic shared by both limiters; only the ``limits`` storage differs."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter

NAMESPACE = "cadenza-key"


class MovingWindowLimiter:
    """``RateLimiter`` over any ``limits`` storage that supports moving windows.

    A moving window (not a fixed one) is used so a client cannot double its rate by
    bursting at a window boundary: at most ``limit`` hits are accepted in any 60 s span.
    """

    def __init__(self, storage: Storage) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._items: dict[int, RateLimitItemPerMinute] = {}

    def _item(self, limit: int) -> RateLimitItemPerMinute:
        item = self._items.get(limit)
        if item is None:
            item = RateLimitItemPerMinute(limit, namespace=NAMESPACE)
            self._items[limit] = item
        return item

    def hit(self, key_id: str, limit_per_minute: int) -> int | None:
        """None if admitted; else whole seconds (>= 1) until the oldest hit leaves the window.

        A limit of 0 or less means the key is not rate limited.
        """
        if limit_per_minute <= 0:
            return None
        item = self._item(limit_per_minute)
        if self._limiter.hit(item, key_id):
            return None
        stats = self._limiter.get_window_stats(item, key_id)
        return max(1, math.ceil(stats.reset_time - time.time()))
