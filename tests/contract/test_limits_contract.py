"""One contract for every RateLimiter: in-process memory and a real Redis."""

from __future__ import annotations

import threading
import uuid

import pytest

from cadenza.domain.errors import UpstreamUnavailable
from cadenza.limits import RateLimiterUnavailable
from cadenza.limits.memory import MemoryRateLimiter
from cadenza.limits.redis import RedisRateLimiter
from cadenza.services.ports import RateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"
RUN_PREFIX = f"cadenza-test-{uuid.uuid4().hex[:12]}"


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {REDIS_URL}: {exc}"
        print(reason)
        pytest.skip(reason)


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter()
    _redis_or_skip()
    return RedisRateLimiter(REDIS_URL, key_prefix=RUN_PREFIX)


def _key() -> str:
    return f"key-{uuid.uuid4().hex}"


def test_admits_exactly_the_limit_then_rejects(limiter: RateLimiter) -> None:
    key = _key()
    results = [limiter.hit(key, 5) for _ in range(8)]
    assert results[:5] == [None] * 5
    for wait in results[5:]:
        assert isinstance(wait, int)
        assert 1 <= wait <= 60


def test_retry_after_counts_from_the_oldest_hit(limiter: RateLimiter) -> None:
    key = _key()
    limiter.hit(key, 1)
    wait = limiter.hit(key, 1)
    # The only hit just happened, so its slot frees in (almost) a full minute.
    assert wait is not None and 58 <= wait <= 60


def test_tenants_are_isolated(limiter: RateLimiter) -> None:
    noisy, quiet = _key(), _key()
    for _ in range(10):
        limiter.hit(noisy, 3)
    assert limiter.hit(noisy, 3) is not None
    assert [limiter.hit(quiet, 3) for _ in range(3)] == [None, None, None]


def test_zero_limit_means_unlimited(limiter: RateLimiter) -> None:
    key = _key()
    assert all(limiter.hit(key, 0) is None for _ in range(100))


def test_concurrent_hits_admit_exactly_the_limit(limiter: RateLimiter) -> None:
    key, limit, threads, per_thread = _key(), 40, 8, 15
    admitted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        ok = sum(limiter.hit(key, limit) is None for _ in range(per_thread))
        with lock:
            admitted.append(ok)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert sum(admitted) == limit


def test_redis_limit_is_shared_between_instances() -> None:
    _redis_or_skip()
    key = _key()
    first = RedisRateLimiter(REDIS_URL, key_prefix=RUN_PREFIX)
    second = RedisRateLimiter(REDIS_URL, key_prefix=RUN_PREFIX)
    assert [first.hit(key, 4) for _ in range(2)] == [None, None]
    assert [second.hit(key, 4) for _ in range(2)] == [None, None]
    assert first.hit(key, 4) is not None
    assert second.hit(key, 4) is not None


def test_memory_limits_are_per_instance() -> None:
    key = _key()
    first, second = MemoryRateLimiter(), MemoryRateLimiter()
    first.hit(key, 1)
    assert first.hit(key, 1) is not None
    assert second.hit(key, 1) is None


def test_unreachable_redis_is_translated() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:9/0", key_prefix=RUN_PREFIX, timeout_s=0.5)
    with pytest.raises(RateLimiterUnavailable) as info:
        limiter.hit(_key(), 10)
    assert isinstance(info.value, UpstreamUnavailable)
    assert info.value.message == "rate limiter unavailable"
