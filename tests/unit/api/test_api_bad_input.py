"""Input JSON allows but nothing downstream can take: refused with a 400 in the envelope,
before anything is charged. Oversized bodies: 413 unread. Unexpected failures: a 500 in
the envelope that still carries the request id."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from api_media_support import balance
from fastapi.testclient import TestClient

from cadenza.api.responses import safe_text
from cadenza.bootstrap import Container
from cadenza.services import tasks

MUSIC = '{"title": "T", "tags": "pop", "prompt": "[Verse]\\nhello little star", %s}'


@pytest.mark.parametrize("field", ["title", "tags", "prompt", "mv", "negative_tags"])
def test_a_lone_surrogate_in_any_text_field_is_a_400(
    client: TestClient, make_key: Any, container: Container, field: str
) -> None:
    key_id, headers = make_key("50")
    body = json.dumps({"prompt": "[Verse]\nla la"})[:-1] + f', "{field}": "a\\ud83d"}}'
    answer = client.post(
        "/suno/submit/music",
        content=body.encode(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"
    assert answer.json()["data"] is None
    assert "Unicode" in answer.json()["message"]
    assert answer.headers["x-request-id"]
    assert balance(container, key_id) == Decimal("50")


def test_a_lone_surrogate_in_metadata_extras_and_keys_is_a_400(
    client: TestClient, make_key: Any
) -> None:
    _, headers = make_key()
    for extra in ('"metadata": {"other": ["x\\udc00"]}', '"metadata": {"k\\ud800": 1}'):
        body = MUSIC % extra
        answer = client.post(
            "/suno/submit/music",
            content=body.encode(),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert answer.status_code == 400, (extra, answer.text)


def test_a_proper_surrogate_pair_is_an_emoji_and_fine(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    body = MUSIC % '"negative_tags": "\\ud83c\\udfb5"'
    answer = client.post(
        "/suno/submit/music",
        content=body.encode(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_numbers_that_are_not_finite_are_a_400_and_free(
    client: TestClient, make_key: Any, container: Container, number: str
) -> None:
    key_id, headers = make_key("50")
    cases = [
        ("/suno/submit/music", MUSIC % f'"continue_at": {number}'),
        ("/suno/submit/music", MUSIC % f'"metadata": {{"weirdness": {number}}}'),
        ("/suno/submit/music", MUSIC % f'"metadata": {{"seed": {number}}}'),
        ("/suno/submit/music", MUSIC % f'"metadata": {{"anything": [{number}]}}'),
        ("/api/crop", f'{{"song_id": "x", "crop_start_s": {number}, "crop_end_s": 3}}'),
        ("/suno/submit/speed-adjust", f'{{"clip_id": "x", "speed_multiplier": {number}}}'),
        ("/suno/submit/lyrics", f'{{"prompt": "a song", "seed": {number}}}'),
    ]
    for path, body in cases:
        answer = client.post(
            path, content=body.encode(), headers={**headers, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (path, body, answer.text)
        assert answer.json()["code"] == "invalid_request"
    assert balance(container, key_id) == Decimal("50")


def test_a_body_over_the_cap_is_a_413_in_the_envelope(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = make_key("50")
    cap = container.settings.max_body_bytes
    huge = '{"ids": ["' + "a" * cap + '"]}'
    answer = client.post(
        "/suno/fetch",
        content=huge.encode(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json() == {
        "code": "payload_too_large",
        "message": answer.json()["message"],
        "data": None,
    }
    assert answer.headers["x-request-id"]

    # Without a Content-Length (chunked): read up to the cap, then refused.
    def chunks() -> object:
        yield b'{"prompt": "'
        for _ in range(cap // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    chunked = client.post(
        "/suno/submit/music",
        content=chunks(),  # type: ignore[arg-type]
        headers={**headers, "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    assert balance(container, key_id) == Decimal("50")


def test_a_chunked_body_under_the_cap_still_reaches_the_route(
    client: TestClient, make_key: Any
) -> None:
    _, headers = make_key()

    def chunks() -> object:
        yield b'{"title": "Chunked", "prompt": "[Verse]\\n'
        yield b'hello little star"}'

    answer = client.post(
        "/suno/submit/music",
        content=chunks(),  # type: ignore[arg-type]
        headers={**headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


def test_messages_never_echo_control_characters(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    evil = "evil\x1b[31m\nFAKE LOG LINE\u202e"
    body = {"task": "extend", "continue_clip_id": evil, "prompt": "[Verse]\nla"}
    answer = client.post("/suno/submit/music", json=body, headers=headers)
    assert answer.status_code == 404
    message = answer.json()["message"]
    assert message.isprintable(), message
    assert "\\x1b" in message and "\\x0a" in message and "\\u202e" in message
    unknown_model = client.post("/suno/submit/music", json={"mv": evil}, headers=headers)
    assert unknown_model.status_code == 400
    assert unknown_model.json()["message"].isprintable()
    assert safe_text("plain text") == "plain text"
    assert len(safe_text("x" * 10_000)) == 500


def test_an_unexpected_failure_is_a_500_envelope_with_the_request_id(
    client: TestClient, make_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, headers = make_key()

    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("database exploded: secret detail")

    monkeypatch.setattr(tasks, "submit_music_request", boom)
    answer = client.post(
        "/suno/submit/music",
        json={"prompt": "[Verse]\nhi"},
        headers={**headers, "X-Request-ID": "req-123"},
    )
    assert answer.status_code == 500
    assert answer.json() == {
        "code": "internal_error",
        "message": "internal server error",
        "data": None,
    }
    assert answer.headers["x-request-id"] == "req-123"
