"""Two gateway processes on one PostgreSQL database share their channels' health through
Redis: what one process's relays learn (a channel refusing, its circuit opening) is what
the other admits by and reports. Skips, saying why, when PostgreSQL or Redis is absent."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from e2e_serving import Server, cli, launch, new_key, poll_task, stop

REDIS_URL = "redis://127.0.0.1:6379/0"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def gateways(
    postgres_database: Callable[[str], AbstractContextManager[str]], tmp_path: Path
) -> Iterator[tuple[Server, Server]]:
    if not _reachable("127.0.0.1", 6379):
        reason = "Redis is not reachable on 127.0.0.1:6379"
        print(reason)
        pytest.skip(reason)
    with postgres_database("cadenza_relay") as url:
        env = {
            "CADENZA_DATABASE_URL": url,
            "CADENZA_LIMITS": "redis",  # channel health follows it into Redis
            "CADENZA_REDIS_URL": REDIS_URL,
            "CADENZA_CHANNEL_SECRET": "e2e channel secret",
            "CADENZA_ALLOW_PRIVATE_URLS": "true",
            "CADENZA_RELAY_POLL_S": "0.5",
            "CADENZA_WARM_START": "false",
        }
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = launch(tmp_path / "a", env_extra=env)
        try:
            second = launch(tmp_path / "b", env_extra=env)
            try:
                yield first, second
            finally:
                stop(second)
        finally:
            stop(first)


def _metric(text: str, line_start: str) -> str:
    found = [line for line in text.splitlines() if line.startswith(line_start)]
    assert found, f"{line_start} not in /metrics"
    return found[0].rsplit(" ", 1)[1]


def test_a_circuit_opened_by_one_gateways_relays_holds_on_every_gateway(
    gateways: tuple[Server, Server],
) -> None:
    first, second = gateways
    cli(
        first,
        "channels",
        "add",
        "--name",
        "dead-node",
        "--kind",
        "sunocore",
        "--base-url",
        _closed_port(),
        "--key",
        "sk_dead",
        "--models",
        "chirp-v5",
        "--cooldown",
        "600",
    )
    key = new_key(first, "100", "--rpm", "1000")
    body = {"title": "Nowhere", "tags": "lofi", "mv": "chirp-v5", "make_instrumental": True}
    headers = {"X-API-Key": key}
    with (
        httpx.Client(base_url=first.base, headers=headers, timeout=30) as one,
        httpx.Client(base_url=second.base, headers=headers, timeout=30) as other,
    ):
        # Before: the second gateway would relay to the channel too.
        before = httpx.get(f"{second.base}/metrics").text
        assert _metric(before, 'cadenza_channel_up{channel="dead-node"}') == "1.0"
        for _ in range(3):  # three refusals, all seen by the first gateway's relays
            submitted = one.post("/suno/submit/music", json=body).json()
            assert submitted["code"] == "success", submitted
            task, _ = poll_task(one, submitted["data"], timeout_s=60)
            assert task["status"] == "FAILURE" and "no available worker" in task["fail_reason"]

        refused = other.post("/suno/submit/music", json=body)
        assert refused.status_code == 502, refused.text
        assert refused.json()["code"] == "upstream_unavailable"

    metrics = httpx.get(f"{second.base}/metrics").text
    assert _metric(metrics, 'cadenza_channel_state{channel="dead-node",state="open"}') == "1.0"
    refusals = 'cadenza_channel_submits_total{channel="dead-node",outcome="refused"}'
    assert _metric(metrics, refusals) == "3.0"
    assert _metric(metrics, 'cadenza_channel_in_flight{channel="dead-node"}') == "0.0"

    admin = cli(second, "keys", "create", "--admin", "--name", "ops").strip().split()[-1]
    listed = httpx.get(f"{second.base}/api/v1/admin/channels", headers={"X-API-Key": admin}).json()
    [channel] = [c for c in listed["items"] if c["name"] == "dead-node"]
    health = channel["health"]
    assert (health["state"], health["refused"], health["accepted"]) == ("open", 3, 0)
