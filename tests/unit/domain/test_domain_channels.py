"""Channel rules: validation, the circuit breaker, and the order channels are tried in."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from cadenza.domain.channels import (
    Breaker,
    Channel,
    candidates,
    is_relay_route,
    new_channel,
    pinned_channel,
)
from cadenza.domain.errors import InvalidInput


def _channel(name: str, **extra: object) -> Channel:
    fields: dict[str, object] = {
        "name": name,
        "kind": "sunocore",
        "base_url": f"http://{name}.example/",
        "credential": "sealed",
        **extra,
    }
    return new_channel(**fields)  # type: ignore[arg-type]


def test_a_channel_is_validated_and_normalised() -> None:
    channel = _channel("gpu-1", models=["Chirp-V4", " chirp-v5 ", ""], actions=["music"])
    assert channel.base_url == "http://gpu-1.example"
    assert channel.models == ["chirp-v4", "chirp-v5"] and channel.actions == ["MUSIC"]
    assert channel.serves("MUSIC", "CHIRP-V4") and not channel.serves("MUSIC", "chirp-v3-5")
    assert not channel.serves("LYRICS", "chirp-v4")
    assert _channel("any").serves("MUSIC", "whatever")
    for bad in (
        {"name": "has space"},
        {"kind": "midjourney"},
        {"base_url": "ftp://x"},
        {"weight": 0},
        {"submit_timeout_s": 0},
        {"actions": ["STEMS"]},
    ):
        with pytest.raises(InvalidInput):
            _channel(**{"name": "ok", **bad})  # type: ignore[arg-type]


def test_a_channel_that_takes_lyrics_takes_them_whatever_its_models() -> None:
    channel = _channel("writer", models=["chirp-v4"], actions=["MUSIC", "lyrics"])
    assert channel.actions == ["LYRICS", "MUSIC"]
    assert channel.serves("LYRICS", "") and channel.serves("LYRICS", "chirp-v5")
    assert channel.serves("MUSIC", "chirp-v4") and not channel.serves("MUSIC", "chirp-v5")
    lyrics_only = _channel("lyricist", actions=["LYRICS"])
    assert lyrics_only.serves("LYRICS", "") and not lyrics_only.serves("MUSIC", "chirp-v4")


def test_a_channel_maps_our_model_names_to_its_upstreams() -> None:
    channel = _channel("hosted", models=["chirp-v4 = Chirp-V3-5", "chirp-v5"])
    assert channel.models == ["chirp-v4=chirp-v3-5", "chirp-v5"]
    assert channel.serves("MUSIC", "chirp-v4") and channel.serves("MUSIC", "chirp-v5")
    assert not channel.serves("MUSIC", "chirp-v3-5")  # theirs, not ours
    assert channel.upstream_model("Chirp-V4") == "chirp-v3-5"
    assert channel.upstream_model("chirp-v5") == "chirp-v5"
    for bad in (["=x"], ["chirp-v4="], ["*=chirp-v4"], ["a=b=c"], ["a=b", "a=c"], ["a", "a=b"]):
        with pytest.raises(InvalidInput):
            _channel("bad", models=bad)


def test_relay_routes_name_a_channel_or_any() -> None:
    assert is_relay_route("relay") and is_relay_route("relay:abc")
    assert not is_relay_route(None) and not is_relay_route("cadenza.worker.a")
    assert pinned_channel("relay:abc") == "abc" and pinned_channel("relay") is None


def test_the_breaker_opens_after_consecutive_failures_and_lets_one_probe_through() -> None:
    breaker = Breaker(threshold=3, cooldown_s=10)
    breaker.failed(0)
    breaker.failed(1)
    breaker.succeeded()  # not consecutive any more
    breaker.failed(2)
    breaker.failed(3)
    assert breaker.available(3)
    breaker.failed(4)
    assert breaker.state(5) == "open" and not breaker.available(13.9)
    assert breaker.state(14) == "half_open" and breaker.available(14)
    breaker.attempt(14)
    assert not breaker.available(14)  # one probe at a time
    breaker.failed(15)  # the probe failed: open again for a whole cooldown
    assert breaker.state(24.9) == "open" and breaker.available(25)
    breaker.attempt(25)
    breaker.succeeded()
    assert breaker.state(25) == "closed" and breaker.failures == 0


def test_candidates_go_by_priority_then_by_weight() -> None:
    heavy = _channel("heavy", weight=3)
    light = _channel("light", weight=1)
    backup = _channel("backup", priority=1)
    off = _channel("off")
    off.enabled = False
    every = [heavy, light, backup, off]
    ids = {c.id for c in every}
    rng = random.Random(1)
    firsts = Counter(
        candidates(every, "MUSIC", "chirp-v4", available=ids, rng=rng)[0].name for _ in range(4000)
    )
    assert set(firsts) == {"heavy", "light"}
    assert 2.5 < firsts["heavy"] / firsts["light"] < 3.5
    order = candidates(every, "MUSIC", "chirp-v4", available=ids, rng=rng)
    assert [c.name for c in order][-1] == "backup" and len(order) == 3
    unavailable = candidates(every, "MUSIC", "x", available={backup.id}, rng=rng)
    assert [c.name for c in unavailable] == ["backup"]
