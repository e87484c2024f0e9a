"""The AceData dialect in ``/openapi.json``: its operations are completed with its own
envelope, statuses and key, and its real answers (successes, streams, every error of the
contract's table) are what the document says."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from library_helpers import generated_clip, tone_wav
from openapi_support import Document
from test_api_fuzz import fake_engines

from cadenza.api.acedata.document import TAG, documented
from cadenza.api.acedata.errors import acedata_router
from cadenza.api.acedata.models import AceDataAccepted
from cadenza.api.acedata.schemas import ClipToolBody
from cadenza.api.app import create_app
from cadenza.api.deps import CurrentKey
from cadenza.api.documenting import json_body
from cadenza.api.openapi import build_document
from cadenza.bootstrap import Container
from cadenza.services import billing

GENERATE = {"action": "generate", "prompt": "a song about the sea", "model": "chirp-v4"}
ENVELOPE = {"$ref": "#/components/schemas/AceDataErrorBody"}
NDJSON = "application/x-ndjson"


@pytest.fixture
def document(client: TestClient) -> Document:
    return Document(client.get("/openapi.json").json())


def bearer(make_key: Any, credits: str = "100", **kwargs: Any) -> dict[str, str]:
    _, headers = make_key(credits, **kwargs)
    return {"Authorization": f"Bearer {headers['X-API-Key']}"}


def test_acedata_operations_are_completed_in_their_dialect(document: Document) -> None:
    operations = document.operations("acedata")
    assert {("POST", "/suno/audios"), ("POST", "/suno/tasks")} <= {(m, p) for m, p, _ in operations}
    for method, path, operation in operations:
        where = (method, path)
        assert operation["tags"] == [TAG], where
        assert operation["security"] == [{"Bearer": []}, {"ApiKey": []}], where
        responses = operation["responses"]
        # A key (400 no_token, 401, 429), anything (500); never FastAPI's 422: AceData
        # answers a bad field, or a reused Idempotency-Key, with 400.
        assert {"200", "400", "401", "429", "500"} <= set(responses), where
        assert "422" not in responses and "502" not in responses, where
        assert responses["429"]["headers"]["Retry-After"]["required"] is True
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {"application/json": {"schema": ENVELOPE}}
        assert "no_token" in responses["400"]["description"], where
        if method != "POST":
            continue  # GET/DELETE /suno/persona take query parameters
        body = operation["requestBody"]
        assert body["required"] is False  # an empty body is {}
        assert "$ref" in body["content"]["application/json"]["schema"], where
        assert "413" in responses, where  # over the body size cap
    audios = document.paths["/suno/audios"]["post"]["responses"]
    assert {"403", "504"} <= set(audios)
    assert "used_up" in audios["403"]["description"]
    assert set(audios["200"]["content"]) == {"application/json", NDJSON}
    assert document.schemas["AceDataErrorBody"]["required"] == ["success", "error", "trace_id"]


def test_a_missing_key_is_400_no_token_and_a_wrong_one_401(
    client: TestClient, document: Document
) -> None:
    for method, path, _ in document.operations("acedata"):
        none = client.request(method, path, json={})
        assert none.status_code == 400, (path, none.text)
        assert document.check(none, path)["error"]["code"] == "no_token"
        wrong = client.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401, (path, wrong.text)
        assert document.check(wrong, path)["error"]["code"] == "invalid_token"


def test_real_answers_match_the_document(
    client: TestClient, make_key: Any, document: Document, queue: Any, container: Container
) -> None:
    headers = bearer(make_key)
    check = document.check

    done = check(client.post("/suno/audios", json=GENERATE, headers=headers), "/suno/audios")
    assert len(done["data"]) == 2
    with client.stream(
        "POST", "/suno/audios", json=GENERATE, headers={**headers, "Accept": NDJSON}
    ) as stream:
        assert stream.status_code == 200
        documented_200 = document.paths["/suno/audios"]["post"]["responses"]["200"]
        assert stream.headers["content-type"].split(";")[0] in documented_200["content"]
        lines = [json.loads(line) for line in stream.iter_lines() if line]
    line_schema = documented_200["content"][NDJSON]["schema"]
    for line in lines:
        document.validate(line, line_schema)

    queue.auto = False
    accepted = client.post("/suno/audios", json={**GENERATE, "async": True}, headers=headers)
    task_id = check(accepted, "/suno/audios")["task_id"]
    pending = client.post("/suno/tasks", json={"id": task_id}, headers=headers)
    assert check(pending, "/suno/tasks")["state"] == "pending"
    queue.drain()
    complete = client.post("/suno/tasks", json={"id": task_id}, headers=headers)
    assert check(complete, "/suno/tasks")["response"]["success"] is True

    # A task made by the other dialect (lyrics: ``data`` is text, not clips) is a record too.
    lyrics = client.post("/suno/submit/lyrics", json={"prompt": "rain"}, headers=headers).json()[
        "data"
    ]
    record = check(client.post("/suno/tasks", json={"id": lyrics}, headers=headers), "/suno/tasks")
    assert record["response"]["data"][0]["text"]
    batch = client.post(
        "/suno/tasks", json={"action": "retrieve_batch", "ids": [task_id, lyrics]}, headers=headers
    )
    assert check(batch, "/suno/tasks")["count"] == 2


def test_the_documented_examples_are_accepted(
    client: TestClient, make_key: Any, document: Document
) -> None:
    headers = bearer(make_key)
    tried = 0
    for _, path, operation in document.operations("acedata"):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        for name, example in media.get("examples", {}).items():
            if "<" in json.dumps(example["value"]):
                continue  # names something the reader has to fill in (a task id)
            answer = client.post(path, json=example["value"], headers=headers)
            assert answer.status_code == 200, (path, name, answer.text)
            document.check(answer, path)
            tried += 1
    assert tried >= 3


def test_a_failed_task_is_a_documented_500_with_its_id_and_record(
    client: TestClient, make_key: Any, document: Document, engine: Any
) -> None:
    headers = bearer(make_key)
    engine.fail_with = "the engine broke"
    failed = client.post("/suno/audios", json=GENERATE, headers=headers)
    assert failed.status_code == 500
    body = document.check(failed, "/suno/audios")
    assert body["error"]["code"] == "api_error" and body["task_id"]
    record = client.post("/suno/tasks", json={"id": body["task_id"]}, headers=headers)
    assert document.check(record, "/suno/tasks")["state"] == "failed"


@pytest.fixture
def impatient(container: Container) -> Iterator[TestClient]:
    """A server that waits 0.1 s for a blocking submit."""
    settings = container.settings.model_copy(update={"acedata_wait_s": 0.1})
    app = create_app(dataclasses.replace(container, settings=settings), manage_queue=False)
    with TestClient(app) as test_client:
        yield test_client


def test_a_task_that_outlives_the_wait_is_a_documented_504(
    impatient: TestClient, make_key: Any, document: Document, queue: Any
) -> None:
    queue.auto = False
    answer = impatient.post("/suno/audios", json=GENERATE, headers=bearer(make_key))
    assert answer.status_code == 504
    body = document.check(answer, "/suno/audios")
    assert body["error"]["code"] == "timeout" and body["task_id"]


def test_real_errors_match_the_document(
    client: TestClient, make_key: Any, document: Document, container: Container
) -> None:
    headers = bearer(make_key)
    check = document.check
    cases: list[tuple[str, Any, dict[str, str], int, str]] = [
        ("/suno/audios", {"action": "generate"}, headers, 400, "bad_request"),
        ("/suno/audios", {"custom": "yes"}, headers, 400, "bad_request"),
        ("/suno/audios", [1, 2], headers, 400, "bad_request"),
        ("/suno/tasks", {"id": "missing"}, headers, 400, "bad_request"),
        ("/suno/tasks", {"action": "retrieve_batch", "limit": 1.5}, headers, 400, "bad_request"),
        ("/suno/audios", GENERATE, bearer(make_key, "0"), 403, "used_up"),
        ("/suno/audios", {**GENERATE, "lyric": "la " * 400_000}, headers, 413, "payload_too_large"),
    ]
    for path, body, sent, status, code in cases:
        answer = client.post(path, json=body, headers=sent)
        assert answer.status_code == status, (path, body, answer.text[:300])
        assert check(answer, path)["error"]["code"] == code
    not_json = client.post("/suno/tasks", content=b"{", headers=headers)
    assert check(not_json, "/suno/tasks")["error"]["code"] == "bad_request"

    limited = bearer(make_key, rpm=1)
    client.post("/suno/tasks", json={"id": "x"}, headers=limited)
    over = client.post("/suno/tasks", json={"id": "x"}, headers=limited)
    assert over.status_code == 429
    assert check(over, "/suno/tasks")["error"]["code"] == "too_many_requests"

    billing.set_price(container.uow, "MUSIC", price=Decimal("10"), enabled=False)
    disabled = client.post("/suno/audios", json=GENERATE, headers=headers)
    assert check(disabled, "/suno/audios")["error"]["code"] == "forbidden"


def sung_clip(container: Container, key_id: str) -> str:
    """A composed song's files (score, MIDI, lyrics, a vocal stem) and a WAV mix: what
    the tools read."""
    clip = generated_clip(container, key_id).clip
    key = f"clips/{clip.id}-test/song.wav"
    container.storage.put_bytes(key, tone_wav(), "audio/wav")
    with container.uow() as u:
        stored = u.clips.get(clip.id)
        assert stored is not None
        stored.files["song.wav"] = key
        u.clips.update(stored)
        u.commit()
    return clip.id


@pytest.fixture
def tooled(container: Container, queue: Any, engine: Any) -> Iterator[TestClient]:
    """A server with an engine for every tool (fakes, text ones real)."""
    app = create_app(fake_engines(container, queue, engine), manage_queue=False)
    with TestClient(app) as test_client:
        yield test_client


def test_the_tools_answer_as_documented(
    tooled: TestClient, make_key: Any, document: Document, container: Container
) -> None:
    key_id, sent = make_key("1000")
    headers = {"Authorization": f"Bearer {sent['X-API-Key']}"}
    check = document.check
    clip_id = sung_clip(container, key_id)
    song = check(tooled.post("/suno/audios", json=GENERATE, headers=headers), "/suno/audios")
    with_cover = song["data"][0]["id"]  # the fake engine's clips have a cover image
    bodies: dict[str, dict[str, Any]] = {
        "/suno/lyrics": {"prompt": "a song about rain", "model": "default"},
        "/suno/style": {"prompt": "dreamy synth-pop"},
        "/suno/mashup-lyrics": {"lyrics_a": "[Verse]\nrain", "lyrics_b": "[Verse]\nsun"},
        "/suno/vox": {"audio_id": clip_id, "vocal_start": 0, "vocal_end": 5},
        **{f"/suno/{tool}": {"audio_id": clip_id} for tool in ("timing", "wav", "midi")},
        "/suno/mp4": {"audio_id": with_cover},
    }
    task_ids = []
    for path, body in bodies.items():
        answered = check(tooled.post(path, json=body, headers=headers), path)
        assert answered["success"] is True, (path, answered)
        task_ids.append(answered["task_id"])
        accepted = tooled.post(path, json={**body, "async": True}, headers=headers)
        check(accepted, path)
    records = tooled.post(
        "/suno/tasks", json={"action": "retrieve_batch", "ids": task_ids}, headers=headers
    )
    assert check(records, "/suno/tasks")["count"] == len(task_ids)
    made = tooled.post("/suno/persona", json={"name": "me", "audio_id": clip_id}, headers=headers)
    persona_id = check(made, "/suno/persona")["data"]["persona_id"]
    listed = tooled.get("/suno/persona", params={"limit": 5}, headers=headers)
    assert check(listed, "/suno/persona")["count"] == 1
    gone = tooled.delete("/suno/persona", params={"persona_id": persona_id}, headers=headers)
    assert check(gone, "/suno/persona") == {"success": True}
    refused = tooled.get("/suno/persona", params={"limit": "many"}, headers=headers)
    assert check(refused, "/suno/persona")["error"]["code"] == "bad_request"


def test_a_wrong_method_names_every_method_the_path_serves(client: TestClient) -> None:
    # /suno/persona is three routes (GET, POST, DELETE); the 405 lists all three.
    answer = client.options("/suno/persona")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == {"GET", "POST", "DELETE"}
    assert client.put("/suno/audios").headers["allow"] == "POST"


def test_a_route_added_later_only_says_what_is_its_own() -> None:
    # Another AceData endpoint, declared as the dialect's routes are: completed the same way.
    router = acedata_router()

    @router.post(
        "/suno/later",
        responses=documented(AceDataAccepted, 403),
        openapi_extra=json_body(ClipToolBody, name="AceDataClipToolBody"),
    )
    def later(key: CurrentKey) -> Any:
        return {}

    app = FastAPI()
    app.include_router(router)
    document = build_document(app)
    operation = document["paths"]["/suno/later"]["post"]
    assert operation["security"] == [{"Bearer": []}, {"ApiKey": []}]
    assert operation["tags"] == [TAG]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "413", "429", "500"}
    schemas = document["components"]["schemas"]
    assert {"AceDataErrorBody", "AceDataErrorInfo", "AceDataClipToolBody"} <= set(schemas)
    assert "audio_id" in schemas["AceDataClipToolBody"]["properties"]
    assert cast(dict[str, Any], operation["responses"]["403"])["content"] == {
        "application/json": {"schema": ENVELOPE}
    }
