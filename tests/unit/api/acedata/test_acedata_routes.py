"""``/suno/audios`` and ``/suno/tasks`` through the app: the modes, the record shapes, and
errors in AceData's envelope that charge nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from cadenza.bootstrap import Container
from cadenza.services import billing
from cadenza.services.views import UowViews


def bearer(make_key: Any, credits: str = "100") -> tuple[str, dict[str, str]]:
    key_id, headers = make_key(credits)
    return key_id, {"Authorization": f"Bearer {headers['X-API-Key']}"}


def balance(container: Container, key_id: str) -> Decimal:
    with container.uow(read_only=True) as u:
        key = u.keys.get(key_id)
        assert key is not None
        return key.credits_balance


GENERATE = {"action": "generate", "prompt": "a song about the sea", "model": "chirp-v4"}


def test_a_blocking_generate_answers_two_finished_clips(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = bearer(make_key)
    answer = client.post("/suno/audios", json=GENERATE, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True and body["task_id"] and body["trace_id"]
    assert list(body) == ["success", "task_id", "trace_id", "data"]
    assert len(body["data"]) == 2
    for clip in body["data"]:
        assert clip["state"] == "succeeded"
        assert isinstance(clip["duration"], float) and clip["duration"] > 0
        assert clip["audio_url"].startswith("http://testserver/")
        assert clip["model"] == "chirp-v4"
        assert clip["prompt"] == "a song about the sea"
        assert clip["created_at"].endswith("Z")
    price = billing.list_prices(container.uow)
    music = next(p for p in price if p.action == "MUSIC").price
    assert balance(container, key_id) == Decimal(100) - music


def test_async_answers_at_once_and_the_task_record_follows_the_contract(
    client: TestClient, make_key: Any, queue: Any
) -> None:
    _, headers = bearer(make_key)
    queue.auto = False
    body = {**GENERATE, "async": True, "callback_url": None, "audio_urls": ["x"]}
    answer = client.post("/suno/audios", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    accepted = answer.json()
    assert accepted["success"] is True and accepted["data"] == []
    task_id = accepted["task_id"]

    pending = client.post("/suno/tasks", json={"id": task_id}, headers=headers).json()
    assert pending["id"] == task_id and pending["state"] == "pending"
    assert "response" not in pending and "error" not in pending
    assert pending["request"] == body
    assert pending["trace_id"] == accepted["trace_id"]

    queue.drain()
    done = client.post(
        "/suno/tasks", json={"id": task_id, "action": "retrieve"}, headers=headers
    ).json()
    assert done["state"] == "complete" and "error" not in done
    assert isinstance(done["finished_at"], float) and isinstance(done["created_at"], float)
    response = done["response"]
    assert response["success"] is True and response["task_id"] == task_id
    assert [c["state"] for c in response["data"]] == ["succeeded", "succeeded"]

    batch = client.post(
        "/suno/tasks", json={"action": "retrieve_batch", "ids": [task_id, "nope"]}, headers=headers
    ).json()
    assert batch["count"] == 1 and batch["items"][0]["id"] == task_id
    listed = client.post(
        "/suno/tasks", json={"action": "retrieve_batch", "limit": 5}, headers=headers
    ).json()
    assert [item["id"] for item in listed["items"]] == [task_id]


def test_the_ndjson_stream_ends_with_the_trace_id(client: TestClient, make_key: Any) -> None:
    _, headers = bearer(make_key)
    with client.stream(
        "POST", "/suno/audios", json=GENERATE, headers={**headers, "Accept": "application/x-ndjson"}
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in answer.iter_lines() if line]
    assert lines and all(line["success"] is True for line in lines)
    assert "trace_id" in lines[-1] and all("trace_id" not in line for line in lines[:-1])
    assert [c["state"] for c in lines[-1]["data"]] == ["succeeded", "succeeded"]


def test_refusals_use_the_envelope_and_charge_nothing(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = bearer(make_key)
    cases = [
        ({"action": "generate"}, 400, "bad_request", "prompt is required when generate audio"),
        ({**GENERATE, "model": "chirp-v9"}, 400, "bad_request", "model is invalid."),
        (
            {"action": "underpainting", "audio_id": "a"},
            400,
            "bad_request",
            "The song id does not exist or has been taken offline.",
        ),
        (
            {"action": "mashup", "mashup_audio_ids": ["a", "b"]},
            400,
            "bad_request",
            "The song id does not exist or has been taken offline.",
        ),
        (
            {"action": "extend", "audio_id": "missing", "continue_at": 10, "instrumental": True},
            400,
            "bad_request",
            "The song id does not exist or has been taken offline.",
        ),
        ({**GENERATE, "callback_url": "http://127.0.0.1/hook"}, 400, "bad_request", None),
    ]
    for body, status, code, message in cases:
        answer = client.post("/suno/audios", json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        error = answer.json()
        assert error["success"] is False and error["error"]["code"] == code, error
        assert error["trace_id"]
        if message is not None:
            assert error["error"]["message"] == message
    assert balance(container, key_id) == Decimal(100)


def test_auth_and_balance_errors(client: TestClient, make_key: Any) -> None:
    none = client.post("/suno/audios", json=GENERATE)
    assert none.status_code == 400 and none.json()["error"]["code"] == "no_token"
    wrong = client.post("/suno/audios", json=GENERATE, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_token"
    _, poor = bearer(make_key, credits="0")
    broke = client.post("/suno/audios", json=GENERATE, headers=poor)
    assert broke.status_code == 403 and broke.json()["error"]["code"] == "used_up"


def test_a_body_over_the_cap_is_refused_in_the_envelope(client: TestClient, make_key: Any) -> None:
    _, headers = bearer(make_key)
    big = {**GENERATE, "lyric": "la " * 400_000}
    answer = client.post("/suno/audios", json=big, headers=headers)
    assert answer.status_code == 413
    assert answer.json()["success"] is False and answer.json()["trace_id"]


def test_a_callback_task_is_rendered_for_the_outbox_as_its_final_answer(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = bearer(make_key)
    body = {**GENERATE, "callback_url": "https://example.com/hook"}
    accepted = client.post("/suno/audios", json=body, headers=headers).json()
    task_id = accepted["task_id"]
    with container.uow(read_only=True) as u:
        (delivery,) = u.callbacks.for_task(task_id)
    assert (delivery.url, delivery.dialect) == ("https://example.com/hook", "acedata")
    render = container.callback_renderers.get(delivery.dialect)
    assert render is not None, "the outbox could never render an AceData callback"
    (view,) = UowViews(container.uow).tasks([task_id], key_id)
    posted = json.loads(render(view))
    record = client.post("/suno/tasks", json={"id": task_id}, headers=headers).json()
    assert record["state"] == "complete"
    assert posted == record["response"]
    assert list(posted) == ["success", "task_id", "trace_id", "data"]
    assert posted["trace_id"] == accepted["trace_id"] and len(posted["data"]) == 2
