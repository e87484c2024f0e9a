"""The polling routes run outside FastAPI's request handling; they must still answer,
fail and show up in metrics exactly like every other route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

SONG = {"tags": "pop", "prompt": "[Verse]\nhello world", "mv": "chirp-v4"}


def _submit(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post("/suno/submit/music", json=SONG, headers=headers)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]
    return task_id


def test_one_and_many_answer_the_same_task(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    task_id = _submit(client, headers)
    one = client.get(f"/suno/fetch/{task_id}", headers=headers)
    many = client.post("/suno/fetch", json={"ids": [task_id]}, headers=headers)
    assert one.status_code == many.status_code == 200
    assert one.headers["content-type"] == "application/json"
    assert one.json()["code"] == "success"
    assert many.json()["data"] == [one.json()["data"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "request body is not valid JSON"),
        (b'{"ids": "abc"}', "ids: "),
        (b'{"ids": [1]}', "ids.0: "),
    ],
)
def test_a_bad_batch_body_is_a_400_in_the_dialects_format(
    client: TestClient, make_key: Any, body: bytes, message: str
) -> None:
    _, headers = make_key()
    response = client.post(
        "/suno/fetch", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "invalid_request" and answer["data"] is None
    assert message in answer["message"]


def test_a_key_is_checked_before_the_body(client: TestClient) -> None:
    response = client.post("/suno/fetch", content=b"{not json")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert client.get("/suno/fetch/abc").status_code == 401


def test_a_wrong_method_is_a_405_in_the_dialects_format(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    response = client.delete("/suno/fetch/abc", headers=headers)
    assert response.status_code == 405
    assert response.json() == {
        "code": "method_not_allowed",
        "message": "Method Not Allowed",
        "data": None,
    }
    assert "GET" in response.headers["allow"]


def test_polls_are_counted_under_their_route(client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    client.get("/suno/fetch/missing", headers=headers)
    client.post("/suno/fetch", json={"ids": []}, headers=headers)
    body = client.get("/metrics").text
    assert 'route="/suno/fetch/{task_id}",status="404"' in body
    assert 'method="POST",route="/suno/fetch",status="200"' in body
