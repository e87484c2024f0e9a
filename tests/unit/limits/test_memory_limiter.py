"""The in-process moving window, against a clock the test moves."""

from __future__ import annotations

from cadenza.limits import memory
from cadenza.limits.memory import MemoryRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hit_leaves_the_window_sixty_seconds_later() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    assert limiter.hit("k", 2) is None
    clock.now += 30
    assert limiter.hit("k", 2) is None
    clock.now += 20
    assert limiter.hit("k", 2) == 10  # the first hit frees its slot at t + 60
    clock.now += 10.5
    assert limiter.hit("k", 2) is None
    assert limiter.hit("k", 2) == 30  # now the one from t + 30 is the oldest: 29.5 s


def test_rejected_hits_do_not_count() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    assert limiter.hit("k", 1) is None
    for _ in range(100):
        clock.now += 0.5
        assert limiter.hit("k", 1) is not None
    clock.now += 10.1
    assert limiter.hit("k", 1) is None


def test_a_lowered_limit_waits_for_enough_hits_to_leave() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    for _ in range(5):
        clock.now += 1
        assert limiter.hit("k", 5) is None
    # Five hits at t+1..t+5; a limit of 2 admits once four have left: at t+64.
    assert limiter.hit("k", 2) == 59


def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    for n in range(50):
        limiter.hit(f"idle-{n}", 10)
    clock.now += 61
    for _ in range(memory.SWEEP_EVERY):
        limiter.hit("busy", 0)  # unlimited keys are not tracked at all
        limiter.hit("busy", 10**9)
    assert set(limiter._hits) == {"busy"}
