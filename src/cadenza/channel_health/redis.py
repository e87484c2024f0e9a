"""Channel health in Redis, so that every process relaying to a channel shares its cap,
its circuit and its counters, and any API process reports what all of them saw.

Per channel: ``slots``, a sorted set of in-flight leases (a token per relayed task, scored
by when its lease ends, renewed by the process holding it, so a process that dies frees
its slots within ``lease_s``); ``breaker``, a hash of consecutive failures and the time
the circuit stays open until; ``probe``, the one submit a half-open circuit lets
through (it expires, so a prober that died does not hold the circuit half-open
forever); ``stats``, a hash of counters. Checks that must be atomic are Lua scripts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis

from cadenza.channel_health import ChannelHealthUnavailable
from cadenza.domain.channels import Channel, ChannelStats

log = logging.getLogger(__name__)

#: How long a slot outlives the last renewal by the process that holds it (seconds).
LEASE_S = 60.0

_RESERVE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local open_until = tonumber(redis.call('HGET', KEYS[2], 'open_until') or '0')
if open_until > now then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
if open_until > 0 then
  if not redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[5]) then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
return 1
"""

_AVAILABLE = """
local now = tonumber(ARGV[1])
local open_until = tonumber(redis.call('HGET', KEYS[2], 'open_until') or '0')
if open_until > now then return 0 end
if open_until > 0 and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if ARGV[2] ~= '' then
  if redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf') >= tonumber(ARGV[2]) then
    return 0
  end
end
return 1
"""

_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if failures >= tonumber(ARGV[2]) or open_until > 0 then
  local until_s = tonumber(ARGV[1]) + tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'open_until', string.format('%.3f', until_s))
end
redis.call('DEL', KEYS[2])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
return failures
"""


class RedisChannelHealth:
    """Channel health shared through one Redis; every method is one round trip."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "cadenza-channels",
        timeout_s: float = 2.0,
        lease_s: float = LEASE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._prefix = key_prefix
        self._lease_s = lease_s
        self._clock = clock
        self._reserve = self._redis.register_script(_RESERVE)
        self._available = self._redis.register_script(_AVAILABLE)
        self._failed = self._redis.register_script(_FAILED)
        self._process = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._count = 0
        #: This process's slot tokens, by channel id: renewed until released.
        self._held: dict[str, list[str]] = {}
        self._stopping = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- keys ---------------------------------------------------------------------------

    def _key(self, channel: Channel, part: str) -> str:
        return f"{self._prefix}:{channel.id}:{part}"

    def _slot_keys(self, channel: Channel) -> list[str]:
        return [
            self._key(channel, "slots"),
            self._key(channel, "breaker"),
            self._key(channel, "probe"),
        ]

    def _token(self) -> str:
        with self._lock:
            self._count += 1
            return f"{self._process}:{self._count}"

    # -- admission ----------------------------------------------------------------------

    def available(self, channel: Channel, *, room: bool = True) -> bool:
        args: list[str | float] = [self._clock(), channel.max_in_flight if room else ""]
        try:
            return bool(self._available(keys=self._slot_keys(channel), args=args))
        except redis.RedisError as exc:
            raise ChannelHealthUnavailable(type(exc).__name__) from exc

    def reserve(self, channel: Channel) -> bool:
        token = self._token()
        now = self._clock()
        probe_ms = int(max(10.0, channel.submit_timeout_s * 2) * 1000)
        args: list[str | float] = [now, channel.max_in_flight, token, now + self._lease_s, probe_ms]
        try:
            took = bool(self._reserve(keys=self._slot_keys(channel), args=args))
        except redis.RedisError as exc:
            raise ChannelHealthUnavailable(type(exc).__name__) from exc
        if took:
            self._keep(channel, token)
        return took

    # -- bookkeeping (never raises) -----------------------------------------------------

    def _quietly(self, what: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except redis.RedisError as exc:
            log.warning("channel health store failed to record %s: %s", what, exc)

    def hold(self, channel: Channel) -> None:
        token = self._token()
        lease = self._clock() + self._lease_s
        self._quietly(
            "a held slot", lambda: self._redis.zadd(self._key(channel, "slots"), {token: lease})
        )
        self._keep(channel, token)

    def release(self, channel: Channel) -> None:
        with self._lock:
            tokens = self._held.get(channel.id)
            token = tokens.pop() if tokens else None
        if token is not None:
            self._quietly(
                "a released slot", lambda: self._redis.zrem(self._key(channel, "slots"), token)
            )

    def accepted(self, channel: Channel) -> None:
        def record() -> None:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._key(channel, "breaker"), mapping={"failures": 0, "open_until": 0})
            pipe.delete(self._key(channel, "probe"))
            pipe.hincrby(self._key(channel, "stats"), "accepted", 1)
            pipe.execute()

        self._quietly("an accepted submit", record)

    def _failure(self, channel: Channel, outcome: str) -> None:
        keys = [
            self._key(channel, "breaker"),
            self._key(channel, "probe"),
            self._key(channel, "stats"),
        ]
        args: list[str | float] = [
            self._clock(),
            max(1, channel.failure_threshold),
            channel.cooldown_s,
            outcome,
        ]
        self._quietly(f"a {outcome} submit", lambda: self._failed(keys=keys, args=args))

    def refused(self, channel: Channel) -> None:
        self._failure(channel, "refused")

    def ambiguous(self, channel: Channel) -> None:
        self._failure(channel, "ambiguous")

    def ended(self, channel: Channel, *, success: bool, seconds: float) -> None:
        def record() -> None:
            pipe = self._redis.pipeline(transaction=True)
            stats = self._key(channel, "stats")
            pipe.hincrby(stats, "succeeded" if success else "failed", 1)
            pipe.hincrbyfloat(stats, "seconds_total", max(0.0, seconds))
            pipe.execute()

        self._quietly("an ended task", record)

    # -- reading ------------------------------------------------------------------------

    def snapshot(self, channels: Sequence[Channel]) -> list[ChannelStats]:
        now = self._clock()
        pipe = self._redis.pipeline(transaction=False)
        for channel in channels:
            pipe.hgetall(self._key(channel, "stats"))
            pipe.hget(self._key(channel, "breaker"), "open_until")
            pipe.zcount(self._key(channel, "slots"), f"({now}", "+inf")
        try:
            answers = pipe.execute()
        except redis.RedisError as exc:
            raise ChannelHealthUnavailable(type(exc).__name__) from exc
        out = []
        for index, channel in enumerate(channels):
            raw, open_until, in_flight = answers[index * 3 : index * 3 + 3]
            stats = {k.decode(): v.decode() for k, v in raw.items()}
            until = float(open_until or 0)
            if not channel.enabled:
                state = "disabled"
            elif until > now:
                state = "open"
            elif until > 0:
                state = "half_open"
            else:
                state = "closed"
            out.append(
                ChannelStats(
                    name=channel.name,
                    state=state,
                    in_flight=int(in_flight),
                    accepted=int(stats.get("accepted", 0)),
                    refused=int(stats.get("refused", 0)),
                    ambiguous=int(stats.get("ambiguous", 0)),
                    succeeded=int(stats.get("succeeded", 0)),
                    failed=int(stats.get("failed", 0)),
                    seconds_total=float(stats.get("seconds_total", 0.0)),
                )
            )
        return out

    # -- leases -------------------------------------------------------------------------

    def _keep(self, channel: Channel, token: str) -> None:
        with self._lock:
            self._held.setdefault(channel.id, []).append(token)
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_loop, name="channel-slot-leases", daemon=True
                )
                self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stopping.wait(self._lease_s / 4):
            self.renew()

    def renew(self) -> None:
        """Pushes the lease of every slot this process holds ``lease_s`` ahead (only those
        still there: a slot released meanwhile is not brought back)."""
        with self._lock:
            held = {cid: list(tokens) for cid, tokens in self._held.items() if tokens}
        if not held:
            return
        lease = self._clock() + self._lease_s
        pipe = self._redis.pipeline(transaction=False)
        for channel_id, tokens in held.items():
            pipe.zadd(f"{self._prefix}:{channel_id}:slots", dict.fromkeys(tokens, lease), xx=True)
        self._quietly("slot leases", pipe.execute)

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, {}
            renewer, self._renewer = self._renewer, None
        if renewer is not None:
            self._stopping.set()
            renewer.join(timeout=5)
            self._stopping.clear()
        if held:
            pipe = self._redis.pipeline(transaction=False)
            for channel_id, tokens in held.items():
                if tokens:
                    pipe.zrem(f"{self._prefix}:{channel_id}:slots", *tokens)
            self._quietly("released slots", pipe.execute)
