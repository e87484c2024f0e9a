"""Authentication and rate limiting, shared by every authenticated route.

Verified keys are remembered for ``auth_cache_ttl_s`` (default 1 s), keyed by the key's
hash, so a burst of polls costs one database read; a revoked key stops working within
that time. Unknown keys are never cached.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar, TypeVarTuple

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from cadenza.bootstrap import Container
from cadenza.domain.billing import ApiKey, hash_key
from cadenza.domain.errors import RateLimited
from cadenza.limits.memory import MemoryRateLimiter
from cadenza.services import keys as key_service

P = ParamSpec("P")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class AuthCache:
    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> ApiKey | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, key: ApiKey) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                now = time.monotonic()
                self._entries = {d: e for d, e in self._entries.items() if e[0] >= now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl_s, key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def read_secret(request: Request) -> str | None:
    """The key from ``X-API-Key``, or from ``Authorization: Bearer <key>``."""
    return secret_of(request.scope)


def secret_of(scope: Scope) -> str | None:
    """``read_secret`` on the raw ASGI headers (the first of each name counts)."""
    api_key: bytes | None = None
    authorization: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            if api_key is None:
                api_key = value
        elif name == b"authorization" and authorization is None:
            authorization = value
    if api_key:
        secret = api_key.decode("latin-1").strip()
        if secret:
            return secret
    if authorization:
        scheme, _, rest = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and rest.strip():
            return rest.strip()
    return None


async def look_up(inline: bool, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Runs a lookup of ``Views`` on the event loop where that is cheaper than a thread hop
    (``Views.inline``, for a single key or task), else on the thread pool like any other
    blocking call."""
    if inline:
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_container(request: Request) -> Container:
    return container_of(request)


def cached_key(scope: Scope, cache: AuthCache) -> ApiKey | None:
    """The request's key when the cache knows it, with no await (most polls); None: read
    it with ``authenticate``."""
    secret = secret_of(scope)
    if not secret:
        return None
    key = cache.get(hash_key(secret))
    if key is not None:
        scope.setdefault("state", {})["key_id"] = key.id
    return key


async def authenticate(
    scope: Scope, container: Container, cache: AuthCache, *, use_cache: bool = True
) -> ApiKey:
    """The request's key. Cache hits stay on the event loop; database reads go to the
    thread pool (or stay inline where ``Views`` says that is cheaper)."""
    if use_cache:
        cached = cached_key(scope, cache)
        if cached is not None:
            return cached
    secret = secret_of(scope)
    views = container.views
    key = await look_up(views.inline, key_service.authenticate, views, secret)
    if secret:
        cache.put(hash_key(secret), key)
    scope.setdefault("state", {})["key_id"] = key.id
    return key


def rate_limit_inline(container: Container, key: ApiKey) -> bool:
    """Counts the hit when the limiter needs no I/O (in memory: microseconds), raising
    ``RateLimited`` once the limit is spent; False when it must go to the thread pool."""
    limiter = container.limiter
    if not isinstance(limiter, MemoryRateLimiter):
        return False
    retry_after = limiter.hit(key.id, key.rate_limit_per_minute)
    if retry_after is not None:
        raise over_limit(key, retry_after)
    return True


async def rate_limit(container: Container, key: ApiKey) -> None:
    """One hit on the key's per-minute limit; ``RateLimited`` once it is spent."""
    if rate_limit_inline(container, key):
        return
    limiter = container.limiter
    retry_after = await run_in_threadpool(limiter.hit, key.id, key.rate_limit_per_minute)
    if retry_after is not None:
        raise over_limit(key, retry_after)


def over_limit(key: ApiKey, retry_after: float) -> RateLimited:
    return RateLimited(
        f"rate limit of {key.rate_limit_per_minute} requests per minute exceeded",
        retry_after=max(1, int(retry_after)),
    )


async def _authenticate(request: Request, *, use_cache: bool) -> ApiKey:
    return await authenticate(
        request.scope, container_of(request), request.app.state.auth_cache, use_cache=use_cache
    )


async def _rate_limit(request: Request, key: ApiKey) -> None:
    await rate_limit(container_of(request), key)


async def current_key(request: Request) -> ApiKey:
    """Authenticated and within its rate limit; the dependency of every keyed route."""
    key = await _authenticate(request, use_cache=True)
    await _rate_limit(request, key)
    return key


async def fresh_key(request: Request) -> ApiKey:
    """Like ``current_key`` but re-read from the database (for balances shown to users)."""
    key = await _authenticate(request, use_cache=False)
    await _rate_limit(request, key)
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]
FreshKey = Annotated[ApiKey, Depends(fresh_key)]
ContainerDep = Annotated[Container, Depends(get_container)]


_submit_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def run_submit(container: Container, fn: Callable[[*Ts], T], /, *args: *Ts) -> T:
    """Runs a submit on a thread of the submit lane: at most ``submit_threads`` at once per
    process, the rest waiting in arrival order. Many threads taking turns at the
    interpreter lock serve a burst no faster and make its slowest submits much slower."""
    loop = asyncio.get_running_loop()
    lane = _submit_lanes.get(loop)
    if lane is None:
        lane = _submit_lanes[loop] = CapacityLimiter(container.settings.submit_threads)
    return await anyio.to_thread.run_sync(fn, *args, limiter=lane)
