"""Upstream channels: their administration and the choice of channel for each task.

Health (circuit, in-flight count, outcomes, latency) is a ``ChannelHealth`` backend: the
relaying process's memory on one machine, Redis where several processes relay.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence

from cadenza.domain.channels import Channel, candidates, new_channel
from cadenza.domain.errors import InvalidInput, NotFound, UpstreamUnavailable
from cadenza.services.ports import ChannelHealth, SecretBox, UnitOfWorkFactory

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
