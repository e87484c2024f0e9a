"""Channel health in this process's memory: exact for a server whose relays all run in
it (the embedded default), blind to any other process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from cadenza.domain.channels import Breaker, Channel, ChannelStats


class MemoryChannelHealth:
    """Circuits and counters of every channel, under one lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, Breaker] = {}
        self._stats: dict[str, ChannelStats] = {}

    def _breaker(self, channel: Channel) -> Breaker:
        breaker = self._breakers.get(channel.id)
        if breaker is None:
            breaker = self._breakers[channel.id] = Breaker(
                channel.failure_threshold, channel.cooldown_s
            )
        breaker.threshold = max(1, channel.failure_threshold)
        breaker.cooldown_s = channel.cooldown_s
        return breaker

    def _stat(self, channel: Channel) -> ChannelStats:
        stat = self._stats.get(channel.id)
        if stat is None:
            stat = self._stats[channel.id] = ChannelStats(channel.name)
        stat.name = channel.name
        return stat

    def available(self, channel: Channel, *, room: bool = True) -> bool:
        with self._lock:
            if not self._breaker(channel).available(self._clock()):
                return False
            return not room or self._stat(channel).in_flight < channel.max_in_flight

    def reserve(self, channel: Channel) -> bool:
        with self._lock:
            breaker = self._breaker(channel)
            now = self._clock()
            stat = self._stat(channel)
            if not breaker.available(now) or stat.in_flight >= channel.max_in_flight:
                return False
            breaker.attempt(now)
            stat.in_flight += 1
            return True

    def hold(self, channel: Channel) -> None:
        with self._lock:
            self._stat(channel).in_flight += 1

    def release(self, channel: Channel) -> None:
        with self._lock:
            stat = self._stat(channel)
            stat.in_flight = max(0, stat.in_flight - 1)

    def accepted(self, channel: Channel) -> None:
        with self._lock:
            self._breaker(channel).succeeded()
            self._stat(channel).accepted += 1

    def refused(self, channel: Channel) -> None:
        with self._lock:
            self._breaker(channel).failed(self._clock())
            self._stat(channel).refused += 1

    def ambiguous(self, channel: Channel) -> None:
        with self._lock:
            self._breaker(channel).failed(self._clock())
            self._stat(channel).ambiguous += 1

    def ended(self, channel: Channel, *, success: bool, seconds: float) -> None:
        with self._lock:
            stat = self._stat(channel)
            if success:
                stat.succeeded += 1
            else:
                stat.failed += 1
            stat.seconds_total += max(0.0, seconds)

    def snapshot(self, channels: Sequence[Channel]) -> list[ChannelStats]:
        now = self._clock()
        with self._lock:
            out = []
            for channel in channels:
                stat = self._stat(channel)
                stat.state = (
                    "disabled" if not channel.enabled else self._breaker(channel).state(now)
                )
                out.append(ChannelStats(**vars(stat)))
            return out

    def close(self) -> None:
        """Nothing outlives this process's memory."""
