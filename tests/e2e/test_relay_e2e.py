"""A Cadenza gateway relaying to another ``cadenza serve`` over the sunocore dialect:
both real processes, the channel added with the real CLI, the song rendered upstream and
served from the gateway's own storage."""

from __future__ import annotations

import importlib.util
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_serving import Server, cli, kill_tree, launch, new_key, poll_task, stop

ENGINE_PRESENT = importlib.util.find_spec("cadenza.compose.pipeline") is not None
SECRET = "e2e channel secret"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = launch(tmp_path_factory.mktemp("relay-upstream"))
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = launch(
        tmp_path_factory.mktemp("relay-gateway"),
        env_extra={
            "CADENZA_CHANNEL_SECRET": SECRET,
            "CADENZA_ALLOW_PRIVATE_URLS": "true",
            "CADENZA_RELAY_POLL_S": "0.5",
            "CADENZA_WARM_START": "false",
        },
    )
    try:
        yield server
    finally:
        stop(server)


GATEWAY_ENV = {
    "CADENZA_CHANNEL_SECRET": SECRET,
    "CADENZA_ALLOW_PRIVATE_URLS": "true",
    "CADENZA_RELAY_POLL_S": "0.5",
    "CADENZA_WARM_START": "false",
    "CADENZA_REAPER_INTERVAL_S": "1",
}


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _ledger(client: httpx.Client) -> list[tuple[str, str]]:
    rows = client.get("/suno/billing/transactions").json()["data"]
    return [(r["transaction_type"], r["task_id"]) for r in rows if r.get("task_id")]


@pytest.mark.slow
@pytest.mark.skipif(not ENGINE_PRESENT, reason="the built-in engine is absent")
def test_a_song_is_made_upstream_and_served_by_the_gateway(
    upstream: Server, gateway: Server
) -> None:
    upstream_key = new_key(upstream, "100")
    out = cli(
        gateway,
        "channels",
        "add",
        "--name",
        "node-1",
        "--kind",
        "sunocore",
        "--base-url",
        upstream.base,
        "--key",
        upstream_key,
        "--models",
        "chirp-v4",
    )
    assert "node-1" in out and upstream_key not in out
    listed = cli(gateway, "channels", "list")
    assert "node-1" in listed and upstream_key not in listed
    assert upstream_key not in gateway.log.read_text()

    headers = {"X-API-Key": new_key(gateway, "100", "--rpm", "1000")}
    body = {"title": "Relayed", "tags": "lofi, piano", "mv": "chirp-v4", "make_instrumental": True}
    with (
        httpx.Client(base_url=gateway.base, headers=headers, timeout=30) as client,
        httpx.Client(
            base_url=upstream.base, headers={"X-API-Key": upstream_key}, timeout=30
        ) as upstream_client,
    ):
        submitted = client.post("/suno/submit/music", json=body).json()
        assert submitted["code"] == "success", submitted
        task_id = submitted["data"]
        task, seen = poll_task(client, task_id)
        assert task["status"] == "SUCCESS", task
        values = [p for _, p in seen]
        assert values == sorted(values) and any(0 < p < 100 for p in values), seen

        clips = task["data"]
        assert len(clips) == 2 and all(c["status"] == "complete" for c in clips)
        for clip in clips:
            assert clip["audio_url"].startswith(gateway.base), clip
            audio = client.get(clip["audio_url"])
            assert audio.status_code == 200 and len(audio.content) > 10_000
            assert clip["image_url"].startswith(gateway.base)

        # Charged once here, and the gateway's key once upstream.
        assert _ledger(client) == [("CONSUME", task_id)]
        upstream_rows = _ledger(upstream_client)
        assert [kind for kind, _ in upstream_rows] == ["CONSUME"]

    metrics = httpx.get(f"{gateway.base}/metrics").text
    assert 'cadenza_channel_up{channel="node-1"} 1.0' in metrics
    assert 'cadenza_channel_tasks_total{channel="node-1",outcome="succeeded"} 1.0' in metrics


@pytest.mark.slow
@pytest.mark.skipif(not ENGINE_PRESENT, reason="the built-in engine is absent")
def test_an_acedata_channel_relays_through_the_upstreams_acedata_dialect(
    upstream: Server, gateway: Server
) -> None:
    upstream_key = new_key(upstream, "100")
    cli(
        gateway,
        "channels",
        "add",
        "--name",
        "node-acedata",
        "--kind",
        "acedata",
        "--base-url",
        upstream.base,
        "--key",
        upstream_key,
        "--models",
        "chirp-v3-5",
    )
    headers = {"X-API-Key": new_key(gateway, "100", "--rpm", "1000")}
    body = {
        "title": "Relayed twice",
        "tags": "pop",
        "prompt": "[Verse]\nhello far away\nsing it back to me",
        "mv": "chirp-v3-5",
    }
    with (
        httpx.Client(base_url=gateway.base, headers=headers, timeout=30) as client,
        httpx.Client(
            base_url=upstream.base, headers={"Authorization": f"Bearer {upstream_key}"}
        ) as upstream_client,
    ):
        submitted = client.post("/suno/submit/music", json=body).json()
        task, _ = poll_task(client, submitted["data"])
        assert task["status"] == "SUCCESS", task
        assert all(c["audio_url"].startswith(gateway.base) for c in task["data"])
        assert _ledger(client) == [("CONSUME", submitted["data"])]
        # Upstream, one task made through its AceData dialect, charged once.
        rows = upstream_client.get("/suno/billing/transactions").json()["data"]
        upstream_tasks = [r["task_id"] for r in rows if r.get("task_id")]
        assert len(upstream_tasks) == 1
        record = upstream_client.post(
            "/suno/tasks", json={"id": upstream_tasks[0], "action": "retrieve"}
        ).json()
        assert record["state"] == "complete" and record["request"]["async"] is True


def test_a_model_whose_channels_are_all_down_fails_over_nowhere_and_then_gets_502(
    gateway: Server,
) -> None:
    cli(
        gateway,
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
    headers = {"X-API-Key": new_key(gateway, "100", "--rpm", "1000")}
    body = {"title": "Nowhere", "tags": "lofi", "mv": "chirp-v5", "make_instrumental": True}
    with httpx.Client(base_url=gateway.base, headers=headers, timeout=30) as client:
        failed = []
        for _ in range(3):  # three refusals open the channel's circuit
            submitted = client.post("/suno/submit/music", json=body).json()
            assert submitted["code"] == "success", submitted
            task, _ = poll_task(client, submitted["data"], timeout_s=60)
            assert task["status"] == "FAILURE", task
            assert "no available worker" in task["fail_reason"]
            failed.append(submitted["data"])
        refused = client.post("/suno/submit/music", json=body)
        assert refused.status_code == 502, refused.text
        assert refused.json()["code"] == "upstream_unavailable"
        # The same refusal in AceData's words, from its own route.
        acedata = client.post(
            "/suno/audios",
            json={
                "action": "generate",
                "model": "chirp-v5",
                "prompt": "a calm song",
                "async": True,
            },
        )
        assert acedata.status_code == 500, acedata.text
        error = acedata.json()["error"]
        assert error["code"] == "api_error" and "no available worker in system" in error["message"]
        rows = _ledger(client)
        for task_id in failed:
            assert sorted(kind for kind, t in rows if t == task_id) == ["CONSUME", "REFUND"]
        assert len(rows) == 6
    metrics = httpx.get(f"{gateway.base}/metrics").text
    assert 'cadenza_channel_state{channel="dead-node",state="open"} 1.0' in metrics

    cli(gateway, "channels", "disable", "dead-node")
    cli(gateway, "channels", "remove", "dead-node")
    assert "dead-node" not in cli(gateway, "channels", "list")


@pytest.mark.slow
@pytest.mark.skipif(not ENGINE_PRESENT, reason="the built-in engine is absent")
def test_a_gateway_killed_mid_relay_resumes_the_task_after_a_restart_without_a_second_submit(
    upstream: Server, tmp_path: Path
) -> None:
    upstream_key = new_key(upstream, "100")
    first = launch(tmp_path, env_extra=GATEWAY_ENV)
    assert first.proc is not None
    try:
        cli(
            first,
            "channels",
            "add",
            "--name",
            "node",
            "--kind",
            "sunocore",
            "--base-url",
            upstream.base,
            "--key",
            upstream_key,
            "--models",
            "chirp-v4-5",
        )
        headers = {"X-API-Key": new_key(first, "100", "--rpm", "1000")}
        body = {
            "title": "Survivor",
            "tags": "ambient",
            "mv": "chirp-v4-5",
            "make_instrumental": True,
        }
        with httpx.Client(base_url=first.base, headers=headers, timeout=30) as client:
            task_id = client.post("/suno/submit/music", json=body).json()["data"]
            deadline = time.monotonic() + 120
            while True:  # accepted upstream and rendering there
                task = client.post("/suno/fetch", json={"ids": [task_id]}).json()["data"][0]
                if task["status"] == "IN_PROGRESS" and task["progress"] != "0%":
                    break
                assert task["status"] not in ("SUCCESS", "FAILURE"), task
                assert time.monotonic() < deadline, task
                time.sleep(0.2)
    finally:
        kill_tree(first.proc)

    second = launch(tmp_path, env_extra=GATEWAY_ENV, log_name="server-2.log")
    try:
        with (
            httpx.Client(base_url=second.base, headers=headers, timeout=30) as client,
            httpx.Client(
                base_url=upstream.base, headers={"X-API-Key": upstream_key}, timeout=30
            ) as upstream_client,
        ):
            task, _ = poll_task(client, task_id, timeout_s=240)
            assert task["status"] == "SUCCESS", task
            assert all(c["audio_url"].startswith(second.base) for c in task["data"])
            assert _ledger(client) == [("CONSUME", task_id)]
            # One task upstream: the restarted gateway polled it, it did not submit again.
            assert [kind for kind, _ in _ledger(upstream_client)] == ["CONSUME"]
    finally:
        stop(second)
