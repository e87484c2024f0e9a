"""A Cadenza gateway relaying to another ``cadenza serve`` over the sunocore dialect:
both real processes, the channel added with the real CLI, the song rendered upstream and
served from the gateway's own storage."""

from __future__ import annotations

import importlib.util
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

        # Word timings of a relayed clip are the upstream's, asked of it in its dialect,
        # and answered in either of the gateway's.
        theirs = upstream_client.post(
            "/suno/timing", json={"audio_id": record["response"]["data"][0]["id"]}
        ).json()
        words = [(w["word"], w["start_s"], w["end_s"]) for w in theirs["data"]["aligned_words"]]
        assert [w for w, _, _ in words] == [
            "hello",
            "far",
            "away",
            "sing",
            "it",
            "back",
            "to",
            "me",
        ]
        ours = task["data"][0]["id"]
        aligned = client.get("/api/get_aligned_lyrics_v3", params={"song_id": ours}).json()
        assert [
            (w["word"], w["start_s"], w["end_s"]) for w in aligned["data"]["aligned_words"]
        ] == (words)
        timing = client.post("/suno/timing", json={"audio_id": ours}).json()
        assert timing["success"] is True, timing
        assert [(w["word"], w["start_s"], w["end_s"]) for w in timing["data"]["aligned_words"]] == (
            words
        )
        assert len(timing["data"]["waveform_data"]) > 100  # from the mirrored audio


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


@pytest.mark.parametrize("kind", ["sunocore", "acedata"])
def test_lyrics_are_written_upstream_and_answered_as_the_gateways_own(
    kind: str, upstream: Server, gateway: Server
) -> None:
    upstream_key = new_key(upstream, "100")
    name = f"lyricist-{kind}"
    # A model nobody asks for: the channel takes lyrics (which name none), not songs.
    cli(
        gateway,
        "channels",
        "add",
        "--name",
        name,
        "--kind",
        kind,
        "--base-url",
        upstream.base,
        "--key",
        upstream_key,
        "--models",
        "chirp-nobody",
        "--actions",
        "MUSIC,LYRICS",
    )
    headers = {"X-API-Key": new_key(gateway, "100", "--rpm", "1000")}
    prompt = "a lighthouse keeper's song for the winter sea"
    try:
        with (
            httpx.Client(base_url=gateway.base, headers=headers, timeout=30) as client,
            httpx.Client(
                base_url=upstream.base, headers={"X-API-Key": upstream_key}, timeout=30
            ) as upstream_client,
        ):
            submitted = client.post("/suno/submit/lyrics", json={"prompt": prompt}).json()
            assert submitted["code"] == "success", submitted
            task_id = submitted["data"]
            task, _ = poll_task(client, task_id, timeout_s=60)
            assert task["status"] == "SUCCESS" and task["action"] == "LYRICS", task

            # Written upstream, once, and charged once on each side.
            upstream_rows = _ledger(upstream_client)
            assert [kind for kind, _ in upstream_rows] == ["CONSUME"], upstream_rows
            made = upstream_client.post("/suno/fetch", json={"ids": [upstream_rows[0][1]]}).json()[
                "data"
            ][0]
            assert made["action"] == "LYRICS" and made["status"] == "SUCCESS", made
            theirs = made["data"]
            assert theirs["text"].startswith("[") and theirs["title"], theirs
            assert task["data"] == {
                "id": task_id,
                "status": "complete",
                "title": theirs["title"],
                "text": theirs["text"],
            }
            assert _ledger(client) == [("CONSUME", task_id)]

            # The AceData dialect answers the relayed task as it answers lyrics written
            # here: its record's data is the list ``/suno/lyrics`` answers.
            record = client.post("/suno/tasks", json={"id": task_id, "action": "retrieve"})
            assert record.status_code == 200, record.text
            [item] = record.json()["response"]["data"]
            assert (item["title"], item["text"]) == (theirs["title"], theirs["text"])

            # AceData's ``/suno/lyrics`` answers once the relayed task has ended.
            answer = client.post("/suno/lyrics", json={"prompt": prompt})
            assert answer.status_code == 200, answer.text
            [written] = answer.json()["data"]
            assert written["status"] == "complete" and written["text"].startswith("[")
            assert len(_ledger(upstream_client)) == 2
    finally:
        cli(gateway, "channels", "disable", name)
        cli(gateway, "channels", "remove", name)


def _acedata_record(client: httpx.Client, task_id: str, timeout_s: float = 240) -> dict[str, Any]:
    """The task's AceData record (``/suno/tasks``) once it has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = client.post("/suno/tasks", json={"id": task_id, "action": "retrieve"})
        assert record.status_code == 200, record.text
        found: dict[str, Any] = record.json()
        if found["state"] in ("complete", "failed"):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.skipif(not ENGINE_PRESENT, reason="the built-in engine is absent")
def test_a_relayed_songs_splits_wav_and_remaster_are_made_by_the_upstream_that_made_it(
    upstream: Server, gateway: Server
) -> None:
    upstream_key = new_key(upstream, "300", "--rpm", "1000")
    name = "node-follow-ups"
    # Songs only: its follow-ups go back to it whatever actions it lists.
    cli(
        gateway,
        "channels",
        "add",
        "--name",
        name,
        "--kind",
        "acedata",
        "--base-url",
        upstream.base,
        "--key",
        upstream_key,
        "--models",
        "chirp-v4-5",
    )
    headers = {"X-API-Key": new_key(gateway, "300", "--rpm", "1000")}
    body = {
        "title": "Split me",
        "tags": "pop",
        "prompt": "[Verse]\nsing it loud\nsing it back to me",
        "mv": "chirp-v4-5",
    }
    try:
        with (
            httpx.Client(base_url=gateway.base, headers=headers, timeout=60) as client,
            httpx.Client(
                base_url=upstream.base, headers={"X-API-Key": upstream_key}, timeout=30
            ) as upstream_client,
        ):
            song_id = client.post("/suno/submit/music", json=body).json()["data"]
            song, _ = poll_task(client, song_id)
            assert song["status"] == "SUCCESS", song
            source = song["data"][0]

            split = client.post(
                "/suno/audios", json={"action": "stems", "audio_id": source["id"], "async": True}
            )
            assert split.status_code == 200, split.text
            split_id = split.json()["task_id"]
            record = _acedata_record(client, split_id)
            assert record["state"] == "complete", record
            stems = record["response"]["data"]
            assert [s["title"] for s in stems] == [
                f"{source['title']} - Vocals",
                f"{source['title']} - Instrumental",
            ]
            for stem in stems:
                # Mirrored here: served from the gateway's own storage.
                assert stem["audio_url"].startswith(gateway.base), stem
                audio = client.get(stem["audio_url"])
                assert audio.status_code == 200 and len(audio.content) > 10_000

            wav = client.post("/suno/wav", json={"audio_id": source["id"], "async": True})
            assert wav.status_code == 200, wav.text
            wav_id = wav.json()["task_id"]
            record = _acedata_record(client, wav_id)
            assert record["state"] == "complete", record
            [exported] = record["response"]["data"]
            assert exported["file_url"].startswith(gateway.base), exported
            riff = client.get(exported["file_url"])
            assert riff.status_code == 200 and riff.content[:4] == b"RIFF"

            full = client.post(
                "/suno/audios",
                json={"action": "all_stems", "audio_id": source["id"], "async": True},
            )
            assert full.status_code == 200, full.text
            full_id = full.json()["task_id"]
            record = _acedata_record(client, full_id)
            assert record["state"] == "complete", record
            sets = record["response"]["data"]
            assert len(sets) == 24 and sets[0]["title"] == f"{source['title']} (Vocals)"
            assert all(s["audio_url"].startswith(gateway.base) for s in sets)

            remaster = client.post(
                "/suno/audios", json={"action": "remaster", "audio_id": source["id"], "async": True}
            )
            assert remaster.status_code == 200, remaster.text
            remaster_id = remaster.json()["task_id"]
            record = _acedata_record(client, remaster_id)
            assert record["state"] == "complete", record
            [remastered] = record["response"]["data"]
            assert remastered["title"] == f"{source['title']} (Remastered)", remastered
            assert remastered["audio_url"].startswith(gateway.base), remastered
            assert len(client.get(remastered["audio_url"]).content) > 10_000

            # A section sung again: the upstream has the score, so it does it.
            replaced = client.post(
                "/suno/audios",
                json={
                    "action": "replace_section",
                    "audio_id": source["id"],
                    "replace_section_start": 0,
                    "replace_section_end": 6,
                    "prompt": "sing it new",
                    "async": True,
                },
            )
            assert replaced.status_code == 200, replaced.text
            replaced_id = replaced.json()["task_id"]
            record = _acedata_record(client, replaced_id)
            assert record["state"] == "complete", record
            [section] = record["response"]["data"]
            assert section["audio_url"].startswith(gateway.base), section
            assert abs(section["duration"] - source["duration"]) < 3.0, (section, source)

            # A mashup of the song's two clips: both the channel's, so made there.
            mashed = client.post(
                "/suno/audios",
                json={
                    "action": "mashup",
                    "mashup_audio_ids": [c["id"] for c in song["data"]],
                    "prompt": "two voices meet",
                    "async": True,
                },
            )
            assert mashed.status_code == 200, mashed.text
            mashup_id = mashed.json()["task_id"]
            record = _acedata_record(client, mashup_id)
            assert record["state"] == "complete", record
            songs = record["response"]["data"]
            assert len(songs) == 2 and all(s["audio_url"].startswith(gateway.base) for s in songs)

            # Charged once each, here and upstream: the song, its splits, its WAV, its
            # remaster, its new section and the mashup.
            assert sorted(_ledger(client)) == sorted(
                [
                    ("CONSUME", song_id),
                    ("CONSUME", split_id),
                    ("CONSUME", wav_id),
                    ("CONSUME", full_id),
                    ("CONSUME", remaster_id),
                    ("CONSUME", replaced_id),
                    ("CONSUME", mashup_id),
                ]
            )
            assert [kind for kind, _ in _ledger(upstream_client)] == ["CONSUME"] * 7
    finally:
        cli(gateway, "channels", "disable", name)
        cli(gateway, "channels", "remove", name)


@pytest.mark.slow
@pytest.mark.skipif(not ENGINE_PRESENT, reason="the built-in engine is absent")
def test_a_relayed_songs_crop_speed_and_concat_are_made_by_the_sunocore_upstream_that_made_it(
    upstream: Server, gateway: Server
) -> None:
    # The gateway polls with this key for every relayed task: a rate to match.
    upstream_key = new_key(upstream, "100", "--rpm", "1000")
    name = "node-edits"
    cli(
        gateway,
        "channels",
        "add",
        "--name",
        name,
        "--kind",
        "sunocore",
        "--base-url",
        upstream.base,
        "--key",
        upstream_key,
        "--models",
        "chirp-v3-0",  # a model no other channel of this gateway serves
    )
    headers = {"X-API-Key": new_key(gateway, "200", "--rpm", "1000")}
    body = {
        "title": "Edit me",
        "tags": "lofi, piano",
        "mv": "chirp-v3-0",
        "make_instrumental": True,
    }

    def ended(client: httpx.Client, submitted: httpx.Response) -> dict[str, Any]:
        assert submitted.status_code == 200, submitted.text
        answer = submitted.json()
        assert answer["code"] == "success", answer
        task, _ = poll_task(client, answer["data"])
        assert task["status"] == "SUCCESS", task
        return task

    try:
        with (
            httpx.Client(base_url=gateway.base, headers=headers, timeout=60) as client,
            httpx.Client(
                base_url=upstream.base, headers={"X-API-Key": upstream_key}, timeout=30
            ) as upstream_client,
        ):
            song = ended(client, client.post("/suno/submit/music", json=body))
            source = song["data"][0]
            length = float(source["metadata"]["duration"])

            cropped = ended(
                client,
                client.post(
                    "/api/crop",
                    json={"song_id": source["id"], "crop_start_s": 2.0, "crop_end_s": 12.0},
                ),
            )
            [crop] = cropped["data"]
            assert crop["title"] == f"{source['title']} (cropped)"
            assert abs(float(crop["metadata"]["duration"]) - 10.0) < 0.5, crop
            assert crop["audio_url"].startswith(gateway.base)
            assert len(client.get(crop["audio_url"]).content) > 10_000

            faster = ended(
                client,
                client.post(
                    "/suno/submit/speed-adjust",
                    json={"clip_id": source["id"], "speed_multiplier": 2.0},
                ),
            )
            [fast] = faster["data"]
            assert abs(float(fast["metadata"]["duration"]) - length / 2) < 1.0, (length, fast)
            assert fast["audio_url"].startswith(gateway.base)

            # An extend of a relayed clip goes upstream too; the chain's whole song is
            # joined there.
            cut = round(length / 2, 1)
            extended = ended(
                client,
                client.post(
                    "/suno/submit/music",
                    json={
                        **body,
                        "task": "extend",
                        "continue_clip_id": source["id"],
                        "continue_at": cut,
                    },
                ),
            )
            tail = extended["data"][0]
            joined = ended(client, client.post("/suno/submit/concat", json={"clip_id": tail["id"]}))
            [whole] = joined["data"]
            whole_s = float(whole["metadata"]["duration"])
            tail_s = float(tail["metadata"]["duration"])
            assert abs(whole_s - (cut + tail_s)) < 1.0, (length, cut, tail_s, whole)
            assert whole["audio_url"].startswith(gateway.base)
            # The upstream's history of the join, naming the clips as this server knows them.
            history = whole["metadata"]["concat_history"]
            assert [h["id"] for h in history] == [source["id"], tail["id"]], history
            assert abs(history[0]["continue_at"] - cut) < 1.0, history  # on the beat

            tasks = [song, cropped, faster, extended, joined]
            assert sorted(_ledger(client)) == sorted(("CONSUME", t["task_id"]) for t in tasks)
            assert [kind for kind, _ in _ledger(upstream_client)] == ["CONSUME"] * 5
    finally:
        cli(gateway, "channels", "disable", name)
        cli(gateway, "channels", "remove", name)
