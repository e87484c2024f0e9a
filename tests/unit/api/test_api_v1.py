"""``/api/v1``: a key's listings, its ledger and usage, task events, and the admin routes,
on a real SQLite database; as a normal key and as an admin key."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cadenza.bootstrap import Container

SONG = {"tags": "pop", "prompt": "[Verse]\nhello world", "mv": "chirp-v4"}


def _submit(client: TestClient, headers: dict[str, str], **extra: Any) -> str:
    response = client.post("/suno/submit/music", json={**SONG, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["data"])


def test_tasks_are_paged_newest_first_with_their_clips(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("100")
    made = [_submit(client, headers) for _ in range(3)]
    first = client.get("/api/v1/tasks?limit=2", headers=headers).json()
    assert [t["id"] for t in first["items"]] == made[::-1][:2]
    assert first["next_offset"] == 2 and first["limit"] == 2 and first["offset"] == 0
    rest = client.get("/api/v1/tasks?limit=2&offset=2", headers=headers).json()
    assert [t["id"] for t in rest["items"]] == [made[0]]
    assert rest["next_offset"] is None
    task = first["items"][0]
    assert task["status"] == "SUCCESS" and task["action"] == "MUSIC" and task["price"] == 10
    assert len(task["clips"]) == 2
    clip = task["clips"][0]
    assert clip["status"] == "complete" and clip["audio_url"].startswith("http://testserver/")
    assert "song.mp3" in clip["files"]
    one = client.get(f"/api/v1/tasks/{made[0]}", headers=headers).json()
    assert one["id"] == made[0] and one["clips"]


def test_filters_by_status_and_action(client: TestClient, make_key: Any, engine: Any) -> None:
    _, headers = make_key("100")
    ok = _submit(client, headers)
    engine.fail_with = "engine broke"
    failed = _submit(client, headers)
    lyrics = client.post("/suno/submit/lyrics", json={"prompt": "rain"}, headers=headers)
    lyrics_id = lyrics.json()["data"]
    by_status = client.get("/api/v1/tasks?status=FAILURE", headers=headers).json()["items"]
    assert [t["id"] for t in by_status] == [failed]
    assert by_status[0]["fail_reason"]
    by_action = client.get("/api/v1/tasks?action=lyrics", headers=headers).json()["items"]
    assert [t["id"] for t in by_action] == [lyrics_id]
    music = client.get("/api/v1/tasks?action=MUSIC&status=SUCCESS", headers=headers).json()
    assert [t["id"] for t in music["items"]] == [ok]
    clips = client.get("/api/v1/clips?status=complete", headers=headers).json()["items"]
    assert {c["task_id"] for c in clips} == {ok}
    errors = client.get("/api/v1/clips?status=error&action=MUSIC", headers=headers).json()
    assert {c["task_id"] for c in errors["items"]} == {failed}
    bad = client.get("/api/v1/tasks?status=DONE", headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_request"
    assert "SUCCESS" in bad.json()["message"]
    odd = client.get("/api/v1/clips?action=a%20b", headers=headers)
    assert odd.status_code == 400 and "action" in odd.json()["message"]
    far = client.get("/api/v1/tasks?offset=99999999999999999999", headers=headers)
    assert far.status_code == 400


def test_a_normal_key_sees_only_its_own_objects(client: TestClient, make_key: Any) -> None:
    owner_id, owner = make_key("100")
    _, other = make_key("100")
    task_id = _submit(client, owner)
    assert client.get("/api/v1/tasks", headers=other).json()["items"] == []
    assert client.get("/api/v1/clips", headers=other).json()["items"] == []
    missing = client.get(f"/api/v1/tasks/{task_id}", headers=other)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    refused = client.get(f"/api/v1/tasks?key_id={owner_id}", headers=other)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    events = client.get(f"/api/v1/tasks/{task_id}/events", headers=other)
    assert events.status_code == 404
    for path in ("keys", "prices", "usage", "ledger"):
        answer = client.get(f"/api/v1/admin/{path}", headers=other)
        assert answer.status_code == 403, path
        assert answer.json() == {
            "code": "forbidden",
            "message": "this route needs an admin key",
            "data": None,
        }
    assert client.get("/api/v1/tasks").status_code == 401


def test_an_admin_reads_another_keys_objects(client: TestClient, make_key: Any) -> None:
    owner_id, owner = make_key("100")
    _, admin = make_key("0", admin=True)
    task_id = _submit(client, owner)
    seen = client.get(f"/api/v1/tasks?key_id={owner_id}", headers=admin).json()["items"]
    assert [t["id"] for t in seen] == [task_id]
    assert client.get("/api/v1/tasks", headers=admin).json()["items"] == []
    unknown = client.get("/api/v1/clips?key_id=nope", headers=admin)
    assert unknown.status_code == 404


def test_admin_manages_keys_credits_and_prices(
    client: TestClient, make_key: Any, container: Container
) -> None:
    _, admin = make_key("0", admin=True)
    made = client.post(
        "/api/v1/admin/keys",
        json={"name": "band", "credits": "25", "rate_limit_per_minute": 30},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["secret"].startswith(key["key_prefix"]) and key["credits_balance"] == 25
    theirs = {"X-API-Key": key["secret"]}
    assert client.get("/api/v1/me", headers=theirs).json()["id"] == key["id"]
    listed = client.get("/api/v1/admin/keys?limit=200", headers=admin).json()["items"]
    assert key["id"] in {k["id"] for k in listed}
    assert all("secret" not in k for k in listed)

    changed = client.patch(
        f"/api/v1/admin/keys/{key['id']}", json={"concurrency_limit": 9}, headers=admin
    ).json()
    assert changed["concurrency_limit"] == 9 and changed["rate_limit_per_minute"] == 30

    granted = client.post(
        f"/api/v1/admin/keys/{key['id']}/credits",
        json={"amount": 10.5, "note": "gift"},
        headers=admin,
    ).json()
    assert granted["entry_type"] == "TOPUP" and granted["balance_after"] == 35.5
    taken = client.post(
        f"/api/v1/admin/keys/{key['id']}/credits", json={"amount": "-5.5"}, headers=admin
    ).json()
    assert taken["entry_type"] == "ADJUST" and taken["balance_after"] == 30
    too_much = client.post(
        f"/api/v1/admin/keys/{key['id']}/credits", json={"amount": "-100"}, headers=admin
    )
    assert too_much.status_code == 400
    rows = client.get(f"/api/v1/ledger?key_id={key['id']}", headers=admin).json()["items"]
    assert [r["entry_type"] for r in rows] == ["ADJUST", "TOPUP", "TOPUP"]
    assert [r["note"] for r in rows][1:] == ["gift", "initial credits"]
    own = client.get("/api/v1/ledger?entry_type=topup", headers=theirs).json()["items"]
    assert len(own) == 2

    price = client.put(
        "/api/v1/admin/prices/MUSIC", json={"price": "7", "enabled": False}, headers=admin
    ).json()
    assert price == {
        "action": "MUSIC",
        "display_name": price["display_name"],
        "price": 7,
        "enabled": False,
        "refund_on_failure": True,
    }
    refused = client.post("/suno/submit/music", json=SONG, headers=theirs)
    assert refused.status_code == 403
    client.put("/api/v1/admin/prices/MUSIC", json={"enabled": True}, headers=admin)
    prices = client.get("/api/v1/admin/prices", headers=admin).json()["items"]
    assert next(p for p in prices if p["action"] == "MUSIC")["price"] == 7

    revoked = client.post(f"/api/v1/admin/keys/{key['id']}/revoke", headers=admin).json()
    assert revoked["revoked"] is True
    assert client.get("/api/v1/me", headers=theirs).status_code == 401
    assert client.get("/api/v1/admin/keys/nope", headers=admin).status_code == 404


def test_usage_per_action_over_a_span(client: TestClient, make_key: Any, engine: Any) -> None:
    key_id, headers = make_key("100")
    _, admin = make_key("0", admin=True)
    _submit(client, headers)
    engine.fail_with = "broken"
    _submit(client, headers)
    client.post("/suno/submit/lyrics", json={"prompt": "rain"}, headers=headers)
    mine = client.get("/api/v1/usage", headers=headers).json()
    lines = {line["action"]: line for line in mine["items"]}
    assert lines["MUSIC"]["charged"] == 2 and lines["MUSIC"]["refunded"] == 1
    assert lines["MUSIC"]["spent"] == 10
    assert lines[""]["granted"] == 100
    assert "LYRICS" in lines
    later = client.get("/api/v1/usage?since=2999-01-01T00:00:00Z", headers=headers).json()
    assert later["items"] == [] and later["since"].startswith("2999-01-01")
    every = client.get("/api/v1/admin/usage", headers=admin).json()["items"]
    assert {line["key_id"] for line in every} >= {key_id}
    one = client.get(f"/api/v1/admin/usage?key_id={key_id}", headers=admin).json()["items"]
    assert {line["key_id"] for line in one} == {key_id}
    page = client.get("/api/v1/admin/ledger?entry_type=REFUND", headers=admin).json()
    assert [r["key_id"] for r in page["items"]] == [key_id]
    backwards = client.get(
        "/api/v1/usage?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", headers=headers
    )
    assert backwards.status_code == 400


def test_task_events_stream_until_the_task_ends(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("100")
    task_id = _submit(client, headers)
    with client.stream("GET", f"/api/v1/tasks/{task_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    frames = [f for f in text.split("\n\n") if f.strip()]
    kinds = [
        line.split(": ", 1)[1]
        for f in frames
        for line in f.split("\n")
        if line.startswith("event: ")
    ]
    assert kinds[0] == "created" and kinds[-1] == "state"
    assert "clip" in kinds
    ids = [int(line[4:]) for f in frames for line in f.split("\n") if line.startswith("id: ")]
    assert ids == sorted(ids)
    resumed = client.get(
        f"/api/v1/tasks/{task_id}/events", headers={**headers, "Last-Event-ID": str(ids[-2])}
    )
    assert resumed.text.count("event: ") == 1 and '"SUCCESS"' in resumed.text


def test_personas_playlists_and_uploads_are_listed(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("100")
    task_id = _submit(client, headers)
    clips = client.get("/api/v1/clips", headers=headers).json()["items"]
    assert {c["task_id"] for c in clips} == {task_id}
    made = client.post(
        "/api/playlist/create_with_clips",
        json={"name": "mine", "clip_ids": [clips[0]["id"]]},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    playlists = client.get("/api/v1/playlists", headers=headers).json()["items"]
    assert playlists[0]["name"] == "mine" and playlists[0]["clip_ids"] == [clips[0]["id"]]
    slot = client.post("/suno/api/create_audio_upload", json={"extension": "mp3"}, headers=headers)
    assert slot.status_code == 200, slot.text
    uploads = client.get("/api/v1/uploads?status=pending", headers=headers).json()["items"]
    assert len(uploads) == 1 and uploads[0]["extension"] == "mp3"
    assert client.get("/api/v1/uploads?status=uploaded", headers=headers).json()["items"] == []
    assert client.get("/api/v1/personas", headers=headers).json()["items"] == []


def test_the_routes_are_documented(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    tasks = paths["/api/v1/tasks"]["get"]
    assert tasks["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskPage"
    }
    assert {"401", "403", "429"} <= set(tasks["responses"])
    created = paths["/api/v1/admin/keys"]["post"]["responses"]
    assert created["201"]["content"]["application/json"]["schema"]["$ref"].endswith("KeyCreated")
    assert "200" not in created
    stream = paths["/api/v1/tasks/{task_id}/events"]["get"]["responses"]["200"]
    assert "text/event-stream" in stream["content"]


def test_admin_manages_channels_and_reads_their_health(
    client: TestClient, make_key: Any, container: Container
) -> None:
    from cadenza.bootstrap import build_secret_box
    from cadenza.channel_health.memory import MemoryChannelHealth
    from cadenza.services.channels import ChannelRouter

    _, admin = make_key("0", admin=True)
    _, normal = make_key("5")
    body = {
        "name": "gpu-1",
        "kind": "sunocore",
        "base_url": "http://10.0.0.7:8000/",
        "key": "upstream-secret-123",
        "models": ["chirp-v4", "chirp-v3-5"],
        "weight": 3,
    }
    # Without a channel secret no key can be sealed: refused, nothing stored.
    refused = client.post("/api/v1/admin/channels", json=body, headers=admin)
    assert refused.status_code == 400 and "CADENZA_CHANNEL_SECRET" in refused.text
    container.settings = container.settings.model_copy(update={"channel_secret": "s3cret"})
    health = MemoryChannelHealth()
    container.channels = ChannelRouter(container.uow, health, cache_s=0)

    assert client.post("/api/v1/admin/channels", json=body, headers=normal).status_code == 403
    made = client.post("/api/v1/admin/channels", json=body, headers=admin)
    assert made.status_code == 201, made.text
    channel = made.json()
    assert channel["base_url"] == "http://10.0.0.7:8000"
    assert channel["models"] == ["chirp-v3-5", "chirp-v4"] and channel["actions"] == ["MUSIC"]
    assert "upstream-secret-123" not in made.text and "key" not in channel
    assert channel["health"]["state"] == "closed" and channel["health"]["success_rate"] is None
    # The key is stored sealed, and opens with the secret.
    stored = container.channels.channels()[0]
    box = build_secret_box(container.settings)
    assert box is not None and stored.credential != body["key"]
    assert box.open(stored.credential) == body["key"]

    twice = client.post("/api/v1/admin/channels", json=body, headers=admin)
    assert twice.status_code == 400 and "exists already" in twice.text
    bad = client.post(
        "/api/v1/admin/channels", json={**body, "name": "x", "kind": "other"}, headers=admin
    )
    assert bad.status_code == 400

    health.accepted(stored)
    health.ended(stored, success=True, seconds=4.0)
    health.ended(stored, success=False, seconds=2.0)
    listed = client.get("/api/v1/admin/channels", headers=admin).json()["items"]
    assert [c["name"] for c in listed] == ["gpu-1"]
    assert listed[0]["health"] == {
        "state": "closed",
        "in_flight": 0,
        "accepted": 1,
        "refused": 0,
        "ambiguous": 0,
        "succeeded": 1,
        "failed": 1,
        "success_rate": 0.5,
        "mean_seconds": 3.0,
    }

    off = client.patch("/api/v1/admin/channels/gpu-1", json={"enabled": False}, headers=admin)
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert off.json()["health"]["state"] == "disabled"
    assert container.channels.channels()[0].enabled is False
    gone = client.delete(f"/api/v1/admin/channels/{channel['id']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["name"] == "gpu-1"
    assert client.get("/api/v1/admin/channels", headers=admin).json()["items"] == []
    assert client.delete("/api/v1/admin/channels/gpu-1", headers=admin).status_code == 404

    # Lyrics are relayable too; other actions are refused before anything is stored.
    writer = {**body, "name": "writer", "actions": ["MUSIC", "lyrics"]}
    made = client.post("/api/v1/admin/channels", json=writer, headers=admin)
    assert made.status_code == 201 and made.json()["actions"] == ["LYRICS", "MUSIC"], made.text
    stems = {**body, "name": "stems", "actions": ["STEMS"]}
    refused = client.post("/api/v1/admin/channels", json=stems, headers=admin)
    assert refused.status_code == 400 and "LYRICS" in refused.text
    assert [
        c["name"] for c in client.get("/api/v1/admin/channels", headers=admin).json()["items"]
    ] == ["writer"]
