"""One contract for every ChannelHealth: this process's memory and a real Redis shared by
several processes (two instances on one prefix stand for two relaying servers)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from cadenza.channel_health import ChannelHealthUnavailable
from cadenza.channel_health.memory import MemoryChannelHealth
from cadenza.channel_health.redis import RedisChannelHealth
from cadenza.domain.channels import Channel, ChannelKind, new_channel
from cadenza.domain.errors import UpstreamUnavailable
from cadenza.services.ports import ChannelHealth

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {REDIS_URL}: {exc}"
        print(reason)
        pytest.skip(reason)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


Make = Callable[..., ChannelHealth]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Make]:
    """Makes health stores that share one state where the backend can (Redis)."""
    made: list[ChannelHealth] = []
    prefix = f"cadenza-test-{uuid.uuid4().hex[:12]}"
    if request.param == "redis":
        _redis_or_skip()

    def build(**options: float) -> ChannelHealth:
        health: ChannelHealth
        if request.param == "memory":
            health = MemoryChannelHealth(clock=clock)
        else:
            health = RedisChannelHealth(REDIS_URL, key_prefix=prefix, clock=clock, **options)
        made.append(health)
        return health

    yield build
    for health in made:
        health.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _channel(**overrides: object) -> Channel:
    channel = new_channel(
        name=f"ch-{uuid.uuid4().hex[:6]}",
        kind=ChannelKind.SUNOCORE,
        base_url="http://10.0.0.5:8000",
        credential="sealed",
        max_in_flight=2,
        cooldown_s=30.0,
    )
    for name, value in overrides.items():
        setattr(channel, name, value)
    return channel


def test_slots_are_taken_up_to_the_cap_and_given_back(make: Make) -> None:
    health, channel = make(), _channel()
    assert health.available(channel)
    assert health.reserve(channel) and health.reserve(channel)
    assert not health.reserve(channel)
    assert not health.available(channel) and health.available(channel, room=False)
    health.release(channel)
    assert health.available(channel)
    assert health.reserve(channel)
    [stats] = health.snapshot([channel])
    assert stats.in_flight == 2 and stats.state == "closed"


def test_a_held_task_takes_a_slot_whatever_the_cap(make: Make) -> None:
    health, channel = make(), _channel(max_in_flight=1)
    health.hold(channel)
    health.hold(channel)
    assert health.snapshot([channel])[0].in_flight == 2
    assert not health.reserve(channel)
    health.release(channel)
    health.release(channel)
    assert health.snapshot([channel])[0].in_flight == 0 and health.reserve(channel)


def test_concurrent_submits_never_pass_the_cap(make: Make) -> None:
    health, channel = make(), _channel(max_in_flight=5)
    start = threading.Barrier(8)
    taken: list[bool] = []
    lock = threading.Lock()

    def submit() -> None:
        start.wait()
        for _ in range(4):
            got = health.reserve(channel)
            with lock:
                taken.append(got)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(True) == 5
    assert health.snapshot([channel])[0].in_flight == 5


def test_failures_in_a_row_open_the_circuit_then_one_probe_goes_through(
    make: Make, clock: Clock
) -> None:
    health, channel = make(), _channel(max_in_flight=10)
    health.refused(channel)
    health.ambiguous(channel)
    assert health.snapshot([channel])[0].state == "closed"
    health.accepted(channel)  # an answer resets the count
    for _ in range(3):
        health.refused(channel)
    assert health.snapshot([channel])[0].state == "open"
    assert not health.available(channel, room=False) and not health.reserve(channel)

    clock.now += 31
    assert health.snapshot([channel])[0].state == "half_open"
    assert health.available(channel)
    assert health.reserve(channel)  # the probe
    assert not health.reserve(channel) and not health.available(channel, room=False)
    health.accepted(channel)
    assert health.snapshot([channel])[0].state == "closed"
    assert health.reserve(channel) and health.reserve(channel)


def test_a_failed_probe_opens_the_circuit_again(make: Make, clock: Clock) -> None:
    health, channel = make(), _channel()
    for _ in range(3):
        health.refused(channel)
    clock.now += 31
    assert health.reserve(channel)
    health.release(channel)
    health.ambiguous(channel)
    assert health.snapshot([channel])[0].state == "open"
    clock.now += 29
    assert not health.reserve(channel)
    clock.now += 2
    assert health.reserve(channel)


def test_counters_and_success_rate(make: Make) -> None:
    health, channel = make(), _channel()
    other = _channel()
    assert health.snapshot([channel])[0].success_rate is None
    health.accepted(channel)
    health.accepted(channel)
    health.refused(channel)
    health.ambiguous(channel)
    health.ended(channel, success=True, seconds=4.0)
    health.ended(channel, success=True, seconds=2.5)
    health.ended(channel, success=False, seconds=-1.0)  # a clock step back counts as 0
    stats, quiet = health.snapshot([channel, other])
    assert (stats.accepted, stats.refused, stats.ambiguous) == (2, 1, 1)
    assert (stats.succeeded, stats.failed) == (2, 1)
    assert stats.seconds_total == pytest.approx(6.5)
    assert stats.success_rate == pytest.approx(2 / 3)
    assert stats.name == channel.name
    assert (quiet.accepted, quiet.succeeded, quiet.in_flight) == (0, 0, 0)


def test_a_disabled_channel_reads_disabled(make: Make) -> None:
    health, channel = make(), _channel(enabled=False)
    assert health.snapshot([channel])[0].state == "disabled"


# -- shared: what only a store outside the process can do ----------------------------


@pytest.fixture
def shared(clock: Clock) -> Iterator[Make]:
    """Redis stores on one prefix: each stands for another relaying process."""
    _redis_or_skip()
    prefix = f"cadenza-test-{uuid.uuid4().hex[:12]}"
    made: list[RedisChannelHealth] = []

    def build(**options: float) -> RedisChannelHealth:
        made.append(RedisChannelHealth(REDIS_URL, key_prefix=prefix, clock=clock, **options))
        return made[-1]

    yield build
    for health in made:
        health.close()


def test_every_process_shares_the_cap_the_circuit_and_the_counters(shared: Make) -> None:
    first, second, channel = shared(), shared(), _channel()
    assert first.reserve(channel)
    assert second.reserve(channel)
    assert not first.reserve(channel) and not second.available(channel)
    first.release(channel)
    assert second.reserve(channel)
    for _ in range(3):
        second.refused(channel)
    assert first.snapshot([channel])[0].state == "open" and not first.available(channel)
    first.ended(channel, success=True, seconds=3.0)
    assert second.snapshot([channel])[0].succeeded == 1


def test_a_dead_process_frees_its_slots_when_their_lease_ends(shared: Make, clock: Clock) -> None:
    dead, alive, channel = shared(lease_s=60.0), shared(lease_s=60.0), _channel()
    assert dead.reserve(channel) and dead.reserve(channel)
    assert alive.reserve(channel) is False
    clock.now += 30
    alive.hold(channel)
    clock.now += 31  # the dead one never renewed; the living one's lease runs on
    assert alive.snapshot([channel])[0].in_flight == 1
    assert alive.reserve(channel)


def test_a_living_process_renews_its_leases(shared: Make, clock: Clock) -> None:
    holder: RedisChannelHealth = shared(lease_s=60.0)
    other, channel = shared(), _channel(max_in_flight=1)
    assert holder.reserve(channel)
    clock.now += 50
    holder.renew()
    clock.now += 50
    assert not other.reserve(channel)
    holder.release(channel)
    assert other.reserve(channel)


def test_a_closed_store_gives_back_its_slots(shared: Make) -> None:
    leaving, staying, channel = shared(), shared(), _channel(max_in_flight=2)
    assert leaving.reserve(channel) and leaving.reserve(channel)
    leaving.close()
    assert staying.snapshot([channel])[0].in_flight == 0


def test_an_unreachable_store_refuses_admission_and_never_loses_a_result() -> None:
    health = RedisChannelHealth("redis://127.0.0.1:1/0", timeout_s=0.2)
    channel = _channel()
    with pytest.raises(ChannelHealthUnavailable) as refused:
        health.reserve(channel)
    assert isinstance(refused.value, UpstreamUnavailable)
    assert "no available worker in system" in str(refused.value)
    with pytest.raises(ChannelHealthUnavailable):
        health.available(channel)
    # Bookkeeping after an upstream made a song must not fail the task.
    health.hold(channel)
    health.accepted(channel)
    health.refused(channel)
    health.ended(channel, success=True, seconds=1.0)
    health.release(channel)
    health.close()
