"""Upstream channels: their administration, their health as this process sees it, and
the choice of channel for each task.

Health (circuit, in-flight count, outcomes, latency) lives in the memory of the process
that relays, which is the one that sees the upstream answer; each process keeps its own.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cadenza.domain.channels import Breaker, Channel, candidates, new_channel
from cadenza.domain.errors import InvalidInput, NotFound, UpstreamUnavailable
from cadenza.services.ports import SecretBox, UnitOfWorkFactory

#: What a client is told when no channel can take its task (AceData's own words).
NO_WORKER = "no available worker in system"
#: How long the channel list read from the database is reused (seconds).
CHANNELS_CACHE_S = 2.0


# -- administration -------------------------------------------------------------------


def add_channel(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    *,
    name: str,
    kind: str,
    base_url: str,
    key: str,
    models: Sequence[str] = ("*",),
    actions: Sequence[str] = ("MUSIC",),
    weight: int = 1,
    priority: int = 0,
    max_in_flight: int = 16,
    submit_timeout_s: float = 30.0,
    task_timeout_s: float = 900.0,
    cooldown_s: float = 30.0,
) -> Channel:
    """Adds a channel; its key is sealed before it reaches the database."""
    if not key:
        raise InvalidInput("a channel needs the upstream's API key")
    channel = new_channel(
        name=name,
        kind=kind,
        base_url=base_url,
        credential=box.seal(key),
        models=models,
        actions=actions,
        weight=weight,
        priority=priority,
        max_in_flight=max_in_flight,
        submit_timeout_s=submit_timeout_s,
        task_timeout_s=task_timeout_s,
        cooldown_s=cooldown_s,
    )
    with uow() as u:
        u.channels.add(channel)
        u.commit()
    return channel


def list_channels(uow: UnitOfWorkFactory) -> list[Channel]:
    with uow(read_only=True) as u:
        return u.channels.list()


def set_enabled(uow: UnitOfWorkFactory, ref: str, enabled: bool) -> Channel:
    with uow() as u:
        channel = u.channels.find(ref)
        if channel is None:
            raise NotFound(f"no channel {ref!r}")
        channel.enabled = enabled
        u.channels.update(channel)
        u.commit()
    return channel


def remove_channel(uow: UnitOfWorkFactory, ref: str) -> Channel:
    """Removes it; tasks it holds are still followed there (their relay names it), so
    disable a channel and let its tasks finish before removing it."""
    with uow() as u:
        channel = u.channels.find(ref)
        if channel is None:
            raise NotFound(f"no channel {ref!r}")
        u.channels.remove(channel.id)
        u.commit()
    return channel


# -- health ---------------------------------------------------------------------------


@dataclass
class ChannelStats:
    """One channel's counters, as this process saw them."""

    name: str
    state: str = "closed"
    in_flight: int = 0
    #: Submits answered with a task id, refused (another channel may take the task),
    #: and whose outcome was unknown (reconciled by asking again).
    accepted: int = 0
    refused: int = 0
    ambiguous: int = 0
    #: Relayed tasks that ended, by outcome, and their seconds from submit to the end.
    succeeded: int = 0
    failed: int = 0
    seconds_total: float = 0.0

    @property
    def success_rate(self) -> float | None:
        ended = self.succeeded + self.failed
        return self.succeeded / ended if ended else None


class ChannelHealth:
    """Circuits and counters of every channel; thread-safe."""

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
        """Its circuit lets a submit through (and, with ``room``, it is under its cap)."""
        with self._lock:
            if not self._breaker(channel).available(self._clock()):
                return False
            return not room or self._stat(channel).in_flight < channel.max_in_flight

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

    def reserve(self, channel: Channel) -> bool:
        """Takes one of the channel's in-flight slots for a submit, if its circuit lets
        one through and it is under its cap (checked and taken at once, so a burst of
        submits cannot pass the cap together)."""
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
        """Takes a slot whatever the cap: a task the channel holds already (resumed)."""
        with self._lock:
            self._stat(channel).in_flight += 1

    def release(self, channel: Channel) -> None:
        with self._lock:
            self._stat(channel).in_flight -= 1

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


# -- routing --------------------------------------------------------------------------


class ChannelRouter:
    """Which channels may take a task: read from the database at most every
    ``CHANNELS_CACHE_S``, so an operator's change takes effect within that time."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        health: ChannelHealth,
        *,
        rng: random.Random | None = None,
        cache_s: float = CHANNELS_CACHE_S,
    ) -> None:
        self._uow = uow
        self.health = health
        self._rng = rng or random.Random()
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._cached: list[Channel] = []
        self._read_at: float | None = None

    def channels(self) -> list[Channel]:
        with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self._cache_s:
                with self._uow(read_only=True) as u:
                    self._cached = u.channels.list()
                self._read_at = now
            return list(self._cached)

    def get(self, channel_id: str) -> Channel | None:
        found = [c for c in self.channels() if c.id == channel_id]
        if found:
            return found[0]
        with self._uow(read_only=True) as u:  # added since the last read, or disabled
            return u.channels.get(channel_id)

    def route(self, action: str, model: str, *, local: bool = False) -> bool:
        """Whether the task goes to a channel (True) or is made here (False). A model an
        enabled channel serves is relayed; when none of those can take it now, the
        submit is refused before any charge (``UpstreamUnavailable``), or, with
        ``local`` (an action this server does as well), made here."""
        serving = [c for c in self.channels() if c.enabled and c.serves(action, model)]
        if not serving:
            return False
        if not any(self.health.available(c, room=False) for c in serving):
            if local:
                return False
            raise UpstreamUnavailable(NO_WORKER)
        return True

    def check_open(self, channel_id: str) -> None:
        """Refuses (before any charge) a task pinned to a channel that cannot take it."""
        channel = self.get(channel_id)
        if channel is None or not channel.enabled:
            raise UpstreamUnavailable(f"{NO_WORKER}: the channel that made the clip is gone")
        if not self.health.available(channel, room=False):
            raise UpstreamUnavailable(NO_WORKER)

    def check_follow_up(self, channel_id: str, action: str) -> None:
        """Refuses (before any charge) a follow-up of a clip the channel made that it
        cannot take now, or whose request its dialect lacks."""
        self.check_open(channel_id)
        channel = self.get(channel_id)
        if channel is not None and not channel.follows_up(action):
            raise InvalidInput(
                f"the channel that made the clip speaks {channel.kind.value}, which has no"
                f" {action} request"
            )

    def order(
        self, action: str, model: str, *, exclude: Sequence[str] = (), room: bool = True
    ) -> list[Channel]:
        """The channels to try for one task, best first (see ``candidates``)."""
        channels = [c for c in self.channels() if c.id not in exclude]
        available = {c.id for c in channels if self.health.available(c, room=room)}
        with self._lock:
            return candidates(channels, action, model, available=available, rng=self._rng)
