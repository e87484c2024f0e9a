"""Playlists, style tags and prompt art; auth, ownership, price and balance on every route."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from library_helpers import MadeClip, generated_clip

from cadenza.bootstrap import Container
from cadenza.services import billing
from cadenza.storage import StorageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _balance(client: TestClient, headers: dict[str, str]) -> Any:
    body = client.get("/suno/billing/me", headers=headers).json()
    return body["data"]["api_key"]["credits_balance"]


def _ledger(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The key's charges and refunds, newest first (its opening top-up left out)."""
    entries = client.get("/suno/billing/transactions", headers=headers).json()["data"]
    return [e for e in entries if e["transaction_type"] != "TOPUP"]


def test_upsample_tags_is_deterministic_and_richer(client: TestClient, make_key: Any) -> None:
    _, headers = make_key("10")
    body = {"original_tags": "lofi chill piano"}
    first = client.post("/api/generate/upsample-tags", json=body, headers=headers)
    second = client.post("/api/generate/upsample-tags", json=body, headers=headers)
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert data == second.json()["data"]
    assert data["original_tags"] == "lofi chill piano"
    parts = [p.strip() for p in data["upsampled_tags"].split(",")]
    assert len(parts) >= 6
    assert "piano" in parts and "chill" in parts
    assert any("bpm" in p for p in parts)
    assert _balance(client, headers) == 9  # 0.5 each


def test_prompt_image_is_a_stored_png(
    client: TestClient, container: Container, make_key: Any
) -> None:
    _, headers = make_key("10")
    prompt = {"prompt": "retro sci-fi album cover, cinematic lighting, silver robot singer"}
    response = client.post("/suno/prompt_image", json=prompt, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["image_url"].endswith(".png")
    stored = container.storage.get_bytes(data["image_s3_id"])
    assert stored.startswith(PNG_MAGIC)
    path = data["image_url"].removeprefix("http://testserver")
    downloaded = client.get(path)
    assert downloaded.status_code == 200 and downloaded.content == stored
    again = client.post("/suno/prompt_image", json=prompt, headers=headers).json()["data"]
    assert container.storage.get_bytes(again["image_s3_id"]) == stored  # same prompt, same art
    assert _balance(client, headers) == 8


def test_prompt_image_failure_refunds_once(
    client: TestClient, container: Container, make_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, headers = make_key("10")

    def broken(key: str, data: bytes, content_type: str) -> None:
        raise StorageError("media storage unavailable")

    monkeypatch.setattr(container.storage, "put_bytes", broken)
    response = client.post("/suno/prompt_image", json={"prompt": "a red sun"}, headers=headers)
    assert response.status_code == 502
    assert _balance(client, headers) == 10
    entries = _ledger(client, headers)
    assert [e["transaction_type"] for e in entries] == ["REFUND", "CONSUME"]
    assert entries[0]["task_id"] == entries[1]["task_id"]
    task = client.get(f"/suno/fetch/{entries[0]['task_id']}", headers=headers).json()["data"]
    assert task["status"] == "FAILURE"


def test_playlist_of_own_clips(client: TestClient, container: Container, make_key: Any) -> None:
    key_id, headers = make_key("10")
    clips = [generated_clip(container, key_id, seed=s).clip.id for s in (1, 2)]
    response = client.post(
        "/api/playlist/create_with_clips",
        json={"task_id": "t", "name": "Inspiration Pack", "clip_ids": clips},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["name"] == "Inspiration Pack" and data["clip_ids"] == clips
    with container.uow() as u:
        stored = u.playlists.get(data["playlist_id"])
    assert stored is not None and stored.key_id == key_id and stored.clip_ids == clips


def test_playlist_with_a_foreign_or_missing_clip_is_404(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("10")
    other_id, _ = make_key("10")
    own = generated_clip(container, key_id).clip.id
    foreign = generated_clip(container, other_id).clip.id
    for clip_ids in ([own, foreign], [own, "no-such-clip"]):
        response = client.post(
            "/api/playlist/create_with_clips",
            json={"name": "Mixed", "clip_ids": clip_ids},
            headers=headers,
        )
        assert response.status_code == 404
    with container.uow() as u:
        assert u.playlists.list_for_key(key_id) == []
    assert _ledger(client, headers) == []


# ------------------------------------------------------------- every route, every refusal

Call = Callable[[TestClient, dict[str, str], MadeClip], Any]

ROUTES: dict[str, tuple[str, Call]] = {
    "persona": (
        "PERSONA",
        lambda c, h, m: c.post("/suno/persona/create", json={"root_clip_id": m.clip.id}, headers=h),
    ),
    "vox": (
        "VOX_PERSONA",
        lambda c, h, m: c.post(
            "/suno/persona/create-with-vox-stem",
            json={"task_id": m.clip.task_id, "song_id": m.clip.id, "duration": 10},
            headers=h,
        ),
    ),
    "midi": (
        "MIDI",
        lambda c, h, m: c.get(f"/suno/midi/{m.clip.task_id}/{m.clip.id}", headers=h),
    ),
    "aligned": (
        "ALIGNED_LYRICS",
        lambda c, h, m: c.get(
            "/api/get_aligned_lyrics_v3", params={"song_id": m.clip.id}, headers=h
        ),
    ),
    "playlist": (
        "PLAYLIST",
        lambda c, h, m: c.post(
            "/api/playlist/create_with_clips",
            json={"name": "P", "clip_ids": [m.clip.id]},
            headers=h,
        ),
    ),
    "upsample_tags": (
        "UPSAMPLE_TAGS",
        lambda c, h, m: c.post(
            "/api/generate/upsample-tags", json={"original_tags": "rock"}, headers=h
        ),
    ),
    "prompt_image": (
        "PROMPT_IMAGE",
        lambda c, h, m: c.post("/suno/prompt_image", json={"prompt": "blue sea"}, headers=h),
    ),
}
OWNED = ("persona", "vox", "midi", "aligned", "playlist")


def test_every_route_needs_a_key(client: TestClient, container: Container, make_key: Any) -> None:
    key_id, _ = make_key("10")
    made = generated_clip(container, key_id)
    for route, (_, call) in ROUTES.items():
        response = call(client, {}, made)
        assert response.status_code == 401, route
        assert response.json()["code"] == "unauthorized"
        bad_key = call(client, {"X-API-Key": "sk_not_a_key"}, made)
        assert bad_key.status_code == 401, route


def test_every_route_hides_another_keys_clip(
    client: TestClient, container: Container, make_key: Any
) -> None:
    owner_id, _ = make_key("10")
    _, other = make_key("10")
    made = generated_clip(container, owner_id)
    for route in OWNED:
        response = ROUTES[route][1](client, other, made)
        assert response.status_code == 404, route
        assert response.json()["code"] == "not_found"
    assert _balance(client, other) == 10
    assert _ledger(client, other) == []


def test_every_route_without_balance_is_402(
    client: TestClient, container: Container, make_key: Any
) -> None:
    billing.set_price(container.uow, "PLAYLIST", price=Decimal("1"))  # free by default
    key_id, headers = make_key("0")
    made = generated_clip(container, key_id)
    for route, (_, call) in ROUTES.items():
        response = call(client, headers, made)
        assert response.status_code == 402, route
        assert response.json()["code"] == "insufficient_credits"
    assert _ledger(client, headers) == []
    with container.uow() as u:
        assert u.personas.list_for_key(key_id) == []
        assert u.playlists.list_for_key(key_id) == []


def test_every_route_with_a_disabled_price_is_403(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key("10")
    made = generated_clip(container, key_id)
    for route, (action, call) in ROUTES.items():
        billing.set_price(container.uow, action, enabled=False)
        response = call(client, headers, made)
        assert response.status_code == 403, route
        assert response.json()["code"] == "forbidden"
        billing.set_price(container.uow, action, enabled=True)
    assert _balance(client, headers) == 10
