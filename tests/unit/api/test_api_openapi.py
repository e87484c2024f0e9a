"""The API document is the API: every route, its real answers, its errors, its key."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from library_helpers import generated_clip
from openapi_support import Document, app_routes
from pydantic import BaseModel

from cadenza.api.deps import CurrentKey
from cadenza.api.sunocore.routes import IdempotencyKey
from cadenza.bootstrap import Container
from cadenza.services import billing

SONG = {"tags": "pop", "prompt": "[Verse]\nhello world", "mv": "chirp-v4"}
SECURITY = [{"ApiKey": []}, {"Bearer": []}]
#: Routes that take no key: the upload form's token is its credential; media keys are
#: unguessable; health and metrics are for probes.
UNKEYED = {
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/media/{key}"),
    ("HEAD", "/media/{key}"),
    ("POST", "/suno/uploads/{upload_id}"),
}


class LaterBody(BaseModel):
    text: str


@pytest.fixture
def document(client: TestClient) -> Document:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return Document(response.json())


def _url(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", template)


def test_every_route_is_in_the_document(client: TestClient, document: Document) -> None:
    routes = app_routes(cast(FastAPI, client.app))
    assert ("GET", "/suno/fetch/{task_id}", True) in routes
    assert ("POST", "/suno/fetch", True) in routes
    documented = {(method, path) for method, path, _ in document.operations()}
    missing = {(method, path) for method, path, _ in routes} - documented
    assert not missing
    assert len(documented) == len(routes)


def test_operation_ids_are_unique_and_media_answers_both_its_methods(
    client: TestClient, document: Document
) -> None:
    ids = [operation["operationId"] for _, _, operation in document.operations()]
    assert len(ids) == len(set(ids))
    assert {"GET", "HEAD"} <= {m for m, p, _ in document.operations() if p == "/media/{key}"}
    refused = client.options("/media/clips/x.mp3")
    assert refused.status_code == 405 and refused.json()["code"] == "method_not_allowed"
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_a_route_added_later_is_documented_like_the_others(client: TestClient) -> None:
    app = cast(FastAPI, client.app)
    first = app.openapi()
    assert app.openapi() is first  # built once

    @app.post("/suno/submit/later")
    def later(body: LaterBody, key: CurrentKey, idempotency_key: IdempotencyKey = None) -> Any:
        return {}

    operation = app.openapi()["paths"]["/suno/submit/later"]["post"]
    assert operation["security"] == SECURITY
    statuses = {"200", "400", "401", "413", "422", "429", "500", "502"}
    assert set(operation["responses"]) == statuses


def test_keyed_operations_say_so_and_refuse_a_missing_key(
    client: TestClient, document: Document
) -> None:
    # AceData's answer a missing key with 400 no_token: acedata/test_acedata_document.py
    for method, path, operation in document.operations("sunocore"):
        keyed = (method, path) not in UNKEYED
        assert operation.get("security") == (SECURITY if keyed else None), (method, path)
        kwargs: dict[str, Any] = {"json": {}} if "requestBody" in operation else {}
        response = client.request(method, _url(path), **kwargs)
        assert (response.status_code == 401) is keyed, (method, path, response.status_code)
    schemes = document.body["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["Bearer"]["type"] == "http" and schemes["Bearer"]["scheme"] == "bearer"


def test_only_submits_with_an_idempotency_key_document_422(document: Document) -> None:
    with_422 = set()
    for _, path, operation in document.operations("sunocore"):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "422" in operation["responses"]:
            with_422.add(path)
            assert "Idempotency-Key" in headers, path
            assert "idempotency_conflict" in operation["responses"]["422"]["description"]
        else:
            assert "Idempotency-Key" not in headers, path
    assert {"/suno/submit/music", "/api/crop", "/suno/submit/upsample"} <= with_422
    assert "HTTPValidationError" not in document.body["components"]["schemas"]


def test_errors_are_the_envelope_and_429_says_when_to_retry(document: Document) -> None:
    envelope = {"$ref": "#/components/schemas/ErrorBody"}
    for method, path, operation in document.operations("sunocore"):
        responses = operation["responses"]
        assert "500" in responses, (method, path)
        for status, response in responses.items():
            if int(status) < 400 or "text/plain" in response["content"]:
                continue
            assert response["content"] == {"application/json": {"schema": envelope}}
        if "security" in operation:
            assert {"401", "429", "502"} <= set(responses), (method, path)
            assert responses["429"]["headers"]["Retry-After"]["required"] is True
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), (method, path)
    error = document.body["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["code", "message", "data"]


def test_real_answers_match_the_document(
    client: TestClient, container: Container, make_key: Any, document: Document
) -> None:
    key_id, headers = make_key("100")
    check = document.check

    submitted = check(
        client.post("/suno/submit/music", json=SONG, headers=headers), "/suno/submit/music"
    )
    task_id = submitted["data"]
    one = check(client.get(f"/suno/fetch/{task_id}", headers=headers), "/suno/fetch/{task_id}")
    assert one["data"]["status"] == "SUCCESS" and len(one["data"]["data"]) == 2
    many = client.post("/suno/fetch", json={"ids": [task_id, "missing"]}, headers=headers)
    assert check(many, "/suno/fetch")["data"] == [one["data"]]
    for path in ("/suno/billing/pricing", "/suno/billing/me", "/suno/billing/transactions"):
        check(client.get(path, headers=headers), path)
    check(client.get("/healthz"), "/healthz")
    check(client.get("/metrics"), "/metrics")

    clip = one["data"]["data"][0]
    audio = clip["audio_url"].removeprefix("http://testserver")
    check(client.get(audio), "/media/{key}")
    check(client.get(audio, headers={"Range": "bytes=0-9"}), "/media/{key}")
    check(client.get(audio, headers={"Range": "bytes=999999-"}), "/media/{key}")
    check(client.get(audio, headers={"Range": "lines=1-2"}), "/media/{key}")
    check(client.head(audio), "/media/{key}")

    slot = check(
        client.post("/suno/api/create_audio_upload", json={"extension": "mp3"}, headers=headers),
        "/suno/api/create_audio_upload",
    )["data"]
    upload = client.post(
        f"/suno/uploads/{slot['upload_id']}",
        data=slot["fields"],
        files={"file": ("a.mp3", b"ID3" + bytes(400), "audio/mpeg")},
    )
    check(upload, "/suno/uploads/{upload_id}")

    made = generated_clip(container, key_id)
    song = made.clip.id
    persona = client.post("/suno/persona/create", json={"root_clip_id": song}, headers=headers)
    check(persona, "/suno/persona/create")
    lyrics = client.get(f"/api/get_aligned_lyrics_v3?song_id={song}", headers=headers)
    assert check(lyrics, "/api/get_aligned_lyrics_v3")["data"]["aligned_words"]
    midi = client.get(f"/suno/midi/{made.clip.task_id}/{song}", headers=headers)
    assert check(midi, "/suno/midi/{task_id}/{clip_id}").startswith(b"MThd")
    playlist = client.post(
        "/api/playlist/create_with_clips", json={"name": "mix", "clip_ids": [song]}, headers=headers
    )
    check(playlist, "/api/playlist/create_with_clips")
    tags = client.post(
        "/api/generate/upsample-tags", json={"original_tags": "jazz"}, headers=headers
    )
    check(tags, "/api/generate/upsample-tags")


def test_real_errors_match_the_document(
    client: TestClient, container: Container, make_key: Any, document: Document
) -> None:
    _, headers = make_key("100")
    _, poor = make_key("1")
    _, limited = make_key(rpm=1)
    check = document.check
    music = "/suno/submit/music"

    assert check(client.get("/suno/billing/me"), "/suno/billing/me")["code"] == "unauthorized"
    missing = client.get("/suno/fetch/missing", headers=headers)
    assert check(missing, "/suno/fetch/{task_id}")["code"] == "not_found"
    bad = client.post(music, json={"prompt": 5}, headers=headers)
    assert check(bad, music)["code"] == "invalid_request"
    not_json = client.post("/suno/fetch", content=b"{", headers=headers)
    assert check(not_json, "/suno/fetch")["code"] == "invalid_request"
    assert (
        check(client.post(music, json=SONG, headers=poor), music)["code"] == "insufficient_credits"
    )
    keyed = {**headers, "Idempotency-Key": "order-1"}
    check(client.post(music, json=SONG, headers=keyed), music)
    conflict = client.post(music, json={**SONG, "tags": "rock"}, headers=keyed)
    assert check(conflict, music)["code"] == "idempotency_conflict"
    client.get("/suno/billing/me", headers=limited)
    over = client.get("/suno/billing/me", headers=limited)
    assert check(over, "/suno/billing/me")["code"] == "rate_limited"
    billing.set_price(container.uow, "MUSIC", price=Decimal("10"), enabled=False)
    assert check(client.post(music, json=SONG, headers=headers), music)["code"] == "forbidden"
    upload = client.post("/suno/uploads/nope", files={"file": ("a", b"x")}, data={"token": "t"})
    assert check(upload, "/suno/uploads/{upload_id}")["code"] in {"invalid_request", "not_found"}
    assert check(client.get("/media/clips/nope.mp3"), "/media/{key}")["code"] == "not_found"
