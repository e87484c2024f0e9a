"""Submit and fetch (seed 000 §2.1-2.3): shapes, limits, errors and isolation."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from cadenza.bootstrap import Container

TASK_FIELDS = [
    "task_id",
    "action",
    "status",
    "fail_reason",
    "submit_time",
    "start_time",
    "finish_time",
    "progress",
    "data",
]
CLIP_FIELDS = {
    "id",
    "clip_id",
    "audio_url",
    "video_url",
    "image_url",
    "image_large_url",
    "model_name",
    "major_model_version",
    "status",
    "title",
    "created_at",
    "duration",
    "prompt",
    "tags",
    "metadata",
}
SONG = {
    "title": "Midnight Drive",
    "tags": "synthwave, neon, energetic",
    "prompt": "A night drive song with bright synths and a strong chorus.",
    "negative_tags": "lofi",
    "mv": "chirp-crow",
    "make_instrumental": False,
}


def _submit(client: TestClient, headers: dict[str, str], body: Any = None) -> str:
    response = client.post("/suno/submit/music", json=body or SONG, headers=headers)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["code"] == "success" and payload["message"] == ""
    uuid.UUID(payload["data"])
    return str(payload["data"])


def _balance(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/suno/billing/me", headers=headers).json()["data"]["api_key"][
        "credits_balance"
    ]


def test_submit_then_fetch_a_finished_task(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    task_id = _submit(client, headers)
    body = client.get(f"/suno/fetch/{task_id}", headers=headers).json()
    assert body["code"] == "success" and body["message"] == ""
    task = body["data"]
    assert list(task) == TASK_FIELDS
    assert task["task_id"] == task_id
    assert task["action"] == "MUSIC"
    assert task["status"] == "SUCCESS"
    assert task["progress"] == "100%"
    assert task["fail_reason"] == ""
    assert isinstance(task["submit_time"], int) and task["submit_time"] > 1_600_000_000
    assert task["finish_time"] >= task["start_time"] >= task["submit_time"]
    assert len(task["data"]) == 2
    for clip in task["data"]:
        assert set(clip) >= CLIP_FIELDS
        assert clip["id"] == clip["clip_id"]
        assert clip["status"] == "complete"
        assert clip["title"] == "Midnight Drive"
        assert clip["model_name"] == "chirp-crow"  # the name asked for, as upstream echoes it
        assert clip["tags"] == SONG["tags"]
        assert clip["created_at"].endswith("Z")
        assert clip["audio_url"].startswith("http://testserver/media/clips/")
        assert clip["audio_url"].endswith(".mp3")
        assert clip["image_url"].endswith(".png")
        meta = clip["metadata"]
        assert meta["type"] == "gen" and meta["stream"] is True
        assert meta["tags"] == SONG["tags"]
        assert meta["negative_tags"] == "lofi"
        assert meta["gpt_description_prompt"] == SONG["prompt"]
        assert "duration" in meta and "error_message" in meta
    first, second = task["data"]
    assert first["id"] != second["id"]
    assert first["audio_url"] != second["audio_url"]


def test_media_downloads_with_content_type_and_range(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    task = client.get(f"/suno/fetch/{_submit(client, headers)}", headers=headers).json()["data"]
    clip = task["data"][0]
    path = clip["audio_url"].removeprefix("http://testserver")
    audio = client.get(path)
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/mpeg"
    assert audio.content.startswith(b"ID3")
    partial = client.get(path, headers={"Range": "bytes=0-9"})
    assert partial.status_code == 206
    assert partial.content == audio.content[:10]
    assert partial.headers["content-range"].startswith("bytes 0-9/")
    image = client.get(clip["image_large_url"].removeprefix("http://testserver"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_media_rejects_traversal_and_unknown_keys(client: TestClient) -> None:
    too_long = "/media/" + "a" * 300  # longer than a file name may be: was a 500
    for path in (
        "/media/clips/nope.mp3",
        "/media/../cadenza.db",
        "/media/%2e%2e/cadenza.db",
        too_long,
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_pending_task_shape(client: TestClient, queue: Any, make_key: Any) -> None:
    queue.auto = False
    _, headers = make_key()
    task_id = _submit(client, headers)
    task = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert task["status"] == "QUEUED"
    assert task["progress"] == "0%"
    assert task["start_time"] == 0 and task["finish_time"] == 0
    assert [c["status"] for c in task["data"]] == ["queued", "queued"]
    assert all(c["audio_url"] == "" and c["image_url"] == "" for c in task["data"])
    queue.drain()
    done = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert done["status"] == "SUCCESS"


def test_batch_fetch_answers_owned_ids_in_order(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    first = _submit(client, headers)
    second = _submit(client, headers, {"tags": "ambient", "make_instrumental": True})
    missing = str(uuid.uuid4())
    body = client.post(
        "/suno/fetch", json={"ids": [second, missing, first], "action": "MUSIC"}, headers=headers
    ).json()
    assert body["code"] == "success"
    assert [t["task_id"] for t in body["data"]] == [second, first]
    assert all(list(t) == TASK_FIELDS for t in body["data"])
    empty = client.post("/suno/fetch", json={"ids": []}, headers=headers).json()
    assert empty == {"code": "success", "message": "", "data": []}


def test_another_keys_task_is_the_same_404_as_a_missing_one(
    client: TestClient, make_key: Any
) -> None:
    _, alice = make_key()
    _, bob = make_key()
    task_id = _submit(client, alice)
    stolen = client.get(f"/suno/fetch/{task_id}", headers=bob)
    missing = client.get(f"/suno/fetch/{uuid.uuid4()}", headers=bob)
    assert stolen.status_code == missing.status_code == 404
    assert stolen.json() == missing.json()
    assert stolen.json()["code"] == "not_found" and stolen.json()["data"] is None
    batch = client.post("/suno/fetch", json={"ids": [task_id]}, headers=bob).json()
    assert batch["data"] == []
    assert client.get(f"/suno/fetch/{task_id}", headers=alice).status_code == 200


def test_follow_up_on_another_keys_clip_is_404(client: TestClient, make_key: Any) -> None:
    _, alice = make_key()
    _, bob = make_key("100")
    task = client.get(f"/suno/fetch/{_submit(client, alice)}", headers=alice).json()["data"]
    clip_id = task["data"][0]["id"]
    response = client.post(
        "/suno/submit/music",
        json={"task": "extend", "continue_clip_id": clip_id, "continue_at": 5, "tags": "pop"},
        headers=bob,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert _balance(client, bob) == 100


def test_insufficient_credits_is_402_and_creates_nothing(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("5")
    response = client.post("/suno/submit/music", json=SONG, headers=headers)
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_credits"
    assert response.json()["data"] is None
    assert _balance(client, headers) == 5
    rows = client.get("/suno/billing/transactions", headers=headers).json()["data"]
    assert [r["transaction_type"] for r in rows] == ["TOPUP"]


def test_concurrency_limit_is_429(client: TestClient, queue: Any, make_key: Any) -> None:
    queue.auto = False
    _, headers = make_key("100", concurrency=1)
    _submit(client, headers)
    response = client.post("/suno/submit/music", json=SONG, headers=headers)
    assert response.status_code == 429
    assert response.json()["code"] == "concurrency_limited"
    assert response.headers["Retry-After"].isdigit()
    assert _balance(client, headers) == 90
    queue.drain()
    _submit(client, headers)


def test_bad_requests_are_400_and_charge_nothing(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("100")
    cases: list[dict[str, Any]] = [
        {"json": {**SONG, "mv": "chirp-nope"}},
        {"json": {"mv": "chirp-v3-5", "prompt": "[Verse]\n" + "la " * 1100}},
        {"content": b'{"title": "x",', "headers": {"Content-Type": "application/json"}},
        {"content": b"", "headers": {"Content-Type": "application/json"}},
        {"json": {**SONG, "title": 123}},
        {"json": {**SONG, "make_instrumental": "sometimes"}},
        {"json": {**SONG, "metadata": {"seed": "not-a-number"}}},
        {"json": {**SONG, "metadata": "loud"}},
        {"json": {"tags": "pop", "metadata": {"vocal_gender": "x"}}},
        {"json": {"title": "nothing to sing"}},
        {"json": ["a", "list"]},
    ]
    for case in cases:
        extra_headers = {**headers, **case.pop("headers", {})}
        response = client.post("/suno/submit/music", headers=extra_headers, **case)
        assert response.status_code == 400, (case, response.text)
        body = response.json()
        assert body["code"] == "invalid_request" and body["data"] is None
        assert body["message"]
    assert (
        "chirp-nope"
        in client.post(
            "/suno/submit/music", json={**SONG, "mv": "chirp-nope"}, headers=headers
        ).json()["message"]
    )
    bad_fetch = client.post("/suno/fetch", json={"ids": "abc"}, headers=headers)
    assert bad_fetch.status_code == 400
    assert _balance(client, headers) == 100


def test_metadata_and_top_level_parameters_reach_the_engine(
    client: TestClient, engine: Any, make_key: Any
) -> None:
    _, headers = make_key()
    _submit(
        client,
        headers,
        {
            "tags": "pop",
            "prompt": "[Verse]\nhello world\n[Chorus]\nla la la",
            "mv": "chirp-v3-5",
            "metadata": {
                "vocal_gender": "f",
                "seed": 42,
                "weirdness": 0.25,
                "style_influence": 0.75,
                "unknown_extra": True,
            },
        },
    )
    request = engine.calls[-1]["request"]
    assert request["seed"] == 42
    assert request["vocal_gender"] == "female"
    assert request["weirdness"] == 0.25 and request["style_influence"] == 0.75
    assert request["model"] == "chirp-v3-5"
    assert request["lyrics"].startswith("[Verse]")
    _submit(client, headers, {"tags": "pop", "gpt_description_prompt": "a happy song"})
    assert engine.calls[-1]["request"]["description"] == "a happy song"


def test_idempotency_key_returns_the_same_task_once_charged(
    client: TestClient, make_key: Any
) -> None:
    _, headers = make_key("100")
    keyed = {**headers, "Idempotency-Key": "order-17"}
    first = client.post("/suno/submit/music", json=SONG, headers=keyed).json()["data"]
    again = client.post("/suno/submit/music", json=SONG, headers=keyed).json()["data"]
    assert first == again
    assert _balance(client, headers) == 90
    conflict = client.post("/suno/submit/music", json={**SONG, "title": "Other"}, headers=keyed)
    assert conflict.status_code == 422
    assert conflict.json()["code"] == "idempotency_conflict"


def test_engine_failure_ends_in_failure_with_a_refund(
    client: TestClient, engine: Any, make_key: Any
) -> None:
    engine.fail_with = "soundfont missing"
    _, headers = make_key("100")
    task = client.get(f"/suno/fetch/{_submit(client, headers)}", headers=headers).json()["data"]
    assert task["status"] == "FAILURE"
    assert task["fail_reason"]
    assert [c["status"] for c in task["data"]] == ["error", "error"]
    assert all(c["audio_url"] == "" for c in task["data"])
    assert _balance(client, headers) == 100
    kinds = [
        r["transaction_type"]
        for r in client.get("/suno/billing/transactions", headers=headers).json()["data"]
    ]
    assert sorted(kinds) == ["CONSUME", "REFUND", "TOPUP"]


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    missing = client.get("/suno/nope")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "not found", "data": None}
    wrong = client.get("/suno/submit/music")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


def test_unexpected_error_is_500_without_details(
    container: Container, make_key: Any, monkeypatch: Any
) -> None:
    from cadenza.api.app import create_app
    from cadenza.services import tasks

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(tasks, "get", explode)
    monkeypatch.setattr(tasks, "revision", explode)
    _, headers = make_key()
    with TestClient(create_app(container, manage_queue=False), raise_server_exceptions=False) as c:
        response = c.get(f"/suno/fetch/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 500
    assert response.json() == {
        "code": "internal_error",
        "message": "internal server error",
        "data": None,
    }
    assert "hunter2" not in response.text and "Traceback" not in response.text
