"""Rate limits kept in this process: right for the single-machine default.

An exact moving window, like the Redis limiter's: at most ``limit`` hits are admitted in
any 60 s span. Each key keeps the times of its hits still inside the window in a deque,
so a hit costs the same whatever the limit. (The ``limits`` library's in-memory store
inserts every hit at the front of a list and copies the list every 10 ms, so a key with
a high limit, such as a gateway's, paid O(limit) per request.)
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0

#: Hits between two sweeps that forget keys whose window has emptied.
SWEEP_EVERY = 10_000


class MemoryRateLimiter:
    """Moving-window limits per key id, shared by every thread of this process only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._until_sweep = SWEEP_EVERY

    def hit(self, key_id: str, limit_per_minute: int) -> int | None:
        """None if admitted; else whole seconds (>= 1) until the oldest hit leaves the window.

        A limit of 0 or less means the key is not rate limited.
        """
        if limit_per_minute <= 0:
            return None
        now = self._clock()
        horizon = now - WINDOW_S
        with self._lock:
            self._until_sweep -= 1
            if self._until_sweep <= 0:
                self._sweep(horizon)
            hits = self._hits.get(key_id)
            if hits is None:
                hits = self._hits[key_id] = deque()
            while hits and hits[0] <= horizon:
                hits.popleft()
            if len(hits) >= limit_per_minute:
                # Admitting needs fewer than ``limit`` hits left in the window.
                frees_at = hits[len(hits) - limit_per_minute] + WINDOW_S
                return max(1, math.ceil(frees_at - now))
            hits.append(now)
            return None

    def _sweep(self, horizon: float) -> None:
        self._until_sweep = SWEEP_EVERY
        for key_id in [k for k, hits in self._hits.items() if not hits or hits[-1] <= horizon]:
            del self._hits[key_id]
