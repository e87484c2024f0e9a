"""What a gateway in front of Cadenza sends (new-api's Suno channel): submit paths in any
letter case, its default model, lyrics tasks, and whole-channel batch polls."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from api_media_support import balance
from fastapi.testclient import TestClient

import cadenza.engines.lyrics as lyrics_engine
from cadenza.bootstrap import Container

#: The body new-api marshals from its SunoSubmitReq for a music submit with no model.
NEWAPI_MUSIC = {
    "prompt": "[Verse]\nhello little star\n[Chorus]\nshine on me",
    "mv": "chirp-v3-0",
    "title": "Gateway Song",
    "tags": "pop",
    "make_instrumental": False,
    "instrumental": False,
    "callBackUrl": "http://gateway.example/suno/callback",
    "customMode": False,
}


def bearer(headers: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {headers['X-API-Key']}"}


def test_submit_path_in_upper_case_is_the_same_route(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    for path in ("/suno/submit/MUSIC", "/suno/submit/Music", "/suno/submit/music"):
        answer = client.post(path, json=NEWAPI_MUSIC, headers=bearer(headers))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["code"] == "success" and isinstance(body["data"], str)


def test_the_gateway_default_model_is_served_under_its_own_name(
    client: TestClient, make_key: Any
) -> None:
    _, headers = make_key()
    task_id = client.post("/suno/submit/MUSIC", json=NEWAPI_MUSIC, headers=headers).json()["data"]
    task = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert task["status"] == "SUCCESS"
    assert [clip["model_name"] for clip in task["data"]] == ["chirp-v3-0", "chirp-v3-0"]
    assert task["data"][0]["major_model_version"] == "v3"


def test_instrumental_is_a_synonym_of_make_instrumental(
    client: TestClient, make_key: Any, container: Container
) -> None:
    _, headers = make_key()
    body = {**NEWAPI_MUSIC, "prompt": "", "tags": "lofi", "instrumental": True}
    task_id = client.post("/suno/submit/music", json=body, headers=headers).json()["data"]
    with container.uow(read_only=True) as u:
        task = u.tasks.get(task_id)
    assert task is not None and task.params["request"]["instrumental"] is True


def test_lyrics_task_answers_title_and_text_and_is_charged_once(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = make_key("10")
    answer = client.post(
        "/suno/submit/LYRICS",
        json={"prompt": "a song about summer love on the beach", "mv": "chirp-v3-0"},
        headers=bearer(headers),
    )
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["data"]
    task = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert task["action"] == "LYRICS"
    assert task["status"] == "SUCCESS" and task["progress"] == "100%"
    assert task["fail_reason"] == ""
    lyrics = task["data"]
    assert set(lyrics) == {"id", "status", "title", "text"}
    assert lyrics["id"] == task_id and lyrics["status"] == "complete"
    assert lyrics["title"]
    assert "[Verse]" in lyrics["text"] and "[Chorus]" in lyrics["text"]
    assert balance(container, key_id) == Decimal("9")
    # The batch poll shows the same task.
    batch = client.post("/suno/fetch", json={"ids": [task_id]}, headers=headers).json()["data"]
    assert batch == [task]


def test_lyrics_follow_the_seed_and_the_description_language(
    client: TestClient, make_key: Any
) -> None:
    _, headers = make_key()

    def lyrics(prompt: str, seed: int) -> dict[str, str]:
        body = {"prompt": prompt, "metadata": {"seed": seed}}
        task_id = client.post("/suno/submit/lyrics", json=body, headers=headers).json()["data"]
        data: dict[str, str] = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"][
            "data"
        ]
        return data

    first = lyrics("a rainy night in Tokyo", 7)
    again = lyrics("a rainy night in Tokyo", 7)
    other = lyrics("a rainy night in Tokyo", 8)
    assert (first["title"], first["text"]) == (again["title"], again["text"])
    assert first["text"] != other["text"]
    chinese = lyrics("一首关于雨夜思念的歌", 3)
    han = sum("\u4e00" <= ch <= "\u9fff" for ch in chinese["text"])
    assert han > 40, chinese["text"]
    assert all("\u4e00" <= ch <= "\u9fff" for ch in chinese["title"])


def test_lyrics_without_a_prompt_is_refused_and_costs_nothing(
    client: TestClient, make_key: Any, container: Container
) -> None:
    key_id, headers = make_key("10")
    for body in ({}, {"prompt": ""}, {"prompt": "   "}, {"prompt": "x" * 3001}):
        answer = client.post("/suno/submit/lyrics", json=body, headers=headers)
        assert answer.status_code == 400, body
        assert answer.json()["code"] == "invalid_request"
    assert balance(container, key_id) == Decimal("10")


def test_a_failed_lyrics_task_is_refunded(
    client: TestClient,
    make_key: Any,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(description: str, seed: int) -> tuple[str, str]:
        raise RuntimeError("writer broke")

    monkeypatch.setattr(lyrics_engine, "write_lyrics", broken)
    key_id, headers = make_key("10")
    task_id = client.post("/suno/submit/lyrics", json={"prompt": "a song"}, headers=headers).json()[
        "data"
    ]
    task = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert task["status"] == "FAILURE" and task["fail_reason"]
    assert task["data"]["status"] == "error" and task["data"]["text"] == ""
    assert balance(container, key_id) == Decimal("10")


def test_batch_poll_of_a_thousand_ids_answers_only_known_ones_in_order(
    client: TestClient, make_key: Any
) -> None:
    _, headers = make_key()
    _, stranger = make_key()
    mine = [
        client.post("/suno/submit/music", json=NEWAPI_MUSIC, headers=headers).json()["data"]
        for _ in range(3)
    ]
    theirs = client.post("/suno/submit/music", json=NEWAPI_MUSIC, headers=stranger).json()["data"]
    ids = [str(uuid.uuid4()) for _ in range(996)]
    ids[10:10] = [mine[2]]
    ids[500:500] = [theirs, mine[0]]
    ids.append(mine[1])
    assert len(ids) == 1000
    answer = client.post("/suno/fetch", json={"ids": ids}, headers=bearer(headers))
    assert answer.status_code == 200
    assert [t["task_id"] for t in answer.json()["data"]] == [mine[2], mine[0], mine[1]]
    too_many = client.post(
        "/suno/fetch", json={"ids": [str(uuid.uuid4()) for _ in range(2001)]}, headers=headers
    )
    assert too_many.status_code == 400
    assert too_many.json()["code"] == "invalid_request"
