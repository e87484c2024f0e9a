"""Crop, speed adjust and concat through the sunocore routes, on real audio."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from api_media_support import balance, local_path, result_clip, seed_clip, with_tools
from fastapi.testclient import TestClient

from cadenza.bootstrap import Container


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    return with_tools(container, queue, engine)


def _seconds(container: Container, key: str) -> float:
    info = sf.info(str(local_path(container, key)))
    return float(info.frames / info.samplerate)


def _ok_task(response: Any) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "success" and body["message"] == ""
    assert isinstance(body["data"], str)
    return str(body["data"])


def test_crop_keep_and_remove(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = seed_clip(container, key_id, tmp_path, seconds=8.0, title="Night")
    keep = _ok_task(
        client.post(
            "/api/crop",
            json={
                "task_id": source.task_id,
                "song_id": source.id,
                "crop_start_s": 1.5,
                "crop_end_s": 5.0,
                "is_crop_remove": False,
            },
            headers=headers,
        )
    )
    clip = result_clip(container, client, headers, keep)
    assert abs(_seconds(container, clip.files["song.wav"]) - 3.5) <= 0.02
    assert clip.title == "Night (cropped)"
    assert {"song.wav", "song.mp3", "cover.png", "cover_large.png", "stems/Vocals.wav"} <= set(
        clip.files
    )
    assert clip.metadata["type"] == "edit_crop" and clip.duration == pytest.approx(3.5, abs=0.02)
    remove = _ok_task(
        client.post(
            "/api/crop",
            json={"song_id": source.id, "crop_start_s": 2, "crop_end_s": 3, "is_crop_remove": True},
            headers=headers,
        )
    )
    removed = result_clip(container, client, headers, remove)
    assert abs(_seconds(container, removed.files["song.wav"]) - 7.0) <= 0.02
    assert balance(container, key_id) == Decimal("96")  # two crops at 2 credits


def test_crop_outside_the_clip_is_400_without_charge(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = seed_clip(container, key_id, tmp_path, seconds=4.0, stems=False)
    for window in ((1.0, 9.0), (3.0, 2.0), (-1.0, 2.0), (0.0, 4.0, True)):
        body = {"song_id": source.id, "crop_start_s": window[0], "crop_end_s": window[1]}
        if len(window) == 3:
            body["is_crop_remove"] = True
        response = client.post("/api/crop", json=body, headers=headers)
        assert response.status_code == 400, (window, response.text)
        assert response.json()["code"] == "invalid_request"
    assert balance(container, key_id) == Decimal("100")


def test_speed_adjust_with_and_without_pitch(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = seed_clip(container, key_id, tmp_path, seconds=5.0, title="Drive")
    task_id = _ok_task(
        client.post(
            "/suno/submit/speed-adjust",
            json={"clip_id": source.id, "speed_multiplier": 1.25, "keep_pitch": True},
            headers=headers,
        )
    )
    clip = result_clip(container, client, headers, task_id)
    assert abs(_seconds(container, clip.files["song.wav"]) - 4.0) <= 0.02
    assert abs(_seconds(container, clip.files["stems/Drums.wav"]) - 4.0) <= 0.02
    assert clip.title == "Drive (1.25x)"
    tape = _ok_task(
        client.post(
            "/suno/submit/speed-adjust",
            json={
                "clip_id": source.id,
                "speed_multiplier": 0.5,
                "keep_pitch": False,
                "title": "Slow",
            },
            headers=headers,
        )
    )
    slow = result_clip(container, client, headers, tape)
    assert abs(_seconds(container, slow.files["song.wav"]) - 10.0) <= 0.02
    assert slow.title == "Slow"
    for bad in (0.1, 4.5):
        response = client.post(
            "/suno/submit/speed-adjust",
            json={"clip_id": source.id, "speed_multiplier": bad, "keep_pitch": True},
            headers=headers,
        )
        assert response.status_code == 400
    assert balance(container, key_id) == Decimal("96")


def test_extend_chain_concat(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    root = seed_clip(container, key_id, tmp_path, seconds=8.0, title="Long Song")
    # Extension recorded in the clip's metadata, as the engine writes it.
    middle = seed_clip(
        container,
        key_id,
        tmp_path,
        seconds=6.0,
        freq=330.0,
        metadata={"continue_clip_id": root.id, "continue_at": 6.0},
    )
    # Extension known only from the request that made it (task params).
    last = seed_clip(
        container,
        key_id,
        tmp_path,
        seconds=4.0,
        freq=440.0,
        task_params={
            "request": {"task": "extend", "continue_clip_id": middle.id, "continue_at": 5.0}
        },
    )
    two = _ok_task(client.post("/suno/submit/concat", json={"clip_id": middle.id}, headers=headers))
    joined = result_clip(container, client, headers, two)
    assert abs(_seconds(container, joined.files["song.wav"]) - (6.0 + 6.0)) <= 0.02
    three = _ok_task(
        client.post(
            "/suno/submit/concat", json={"clip_id": last.id, "is_infill": False}, headers=headers
        )
    )
    whole = result_clip(container, client, headers, three)
    assert abs(_seconds(container, whole.files["song.wav"]) - (6.0 + 5.0 + 4.0)) <= 0.02
    assert whole.title == "Long Song"
    history = whole.metadata["concat_history"]
    assert history == [
        {"continue_at": 6.0, "id": root.id, "infill": False, "source": "web", "type": "gen"},
        {"continue_at": 5.0, "id": middle.id, "infill": False, "source": "web", "type": "gen"},
        {"id": last.id},
    ]
    fetched = client.get(f"/suno/fetch/{three}", headers=headers).json()["data"]
    assert fetched["data"][0]["metadata"]["concat_history"] == history


def test_concat_of_a_plain_clip_is_400(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    plain = seed_clip(container, key_id, tmp_path, seconds=2.0, stems=False)
    response = client.post("/suno/submit/concat", json={"clip_id": plain.id}, headers=headers)
    assert response.status_code == 400
    assert response.json()["message"] == "clip is not an extension"
    assert balance(container, key_id) == Decimal("100")


def test_another_keys_clip_is_404_on_every_edit(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    alice_id, _ = make_key()
    bob_id, bob = make_key()
    clip = seed_clip(container, alice_id, tmp_path, seconds=3.0, stems=False)
    calls = [
        ("/api/crop", {"song_id": clip.id, "crop_start_s": 0, "crop_end_s": 1}),
        ("/suno/submit/speed-adjust", {"clip_id": clip.id, "speed_multiplier": 2}),
        ("/suno/submit/concat", {"clip_id": clip.id}),
    ]
    for path, body in calls:
        response = client.post(path, json=body, headers=bob)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    assert client.get(f"/suno/act/mp4/{clip.id}", headers=bob).status_code == 404
    assert balance(container, bob_id) == Decimal("100")


def test_a_failed_edit_is_refunded(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    source = seed_clip(container, key_id, tmp_path, seconds=3.0, stems=False)
    local_path(container, source.files["song.wav"]).write_bytes(b"not a wav any more")
    task_id = _ok_task(
        client.post(
            "/suno/submit/speed-adjust",
            json={"clip_id": source.id, "speed_multiplier": 1.5, "keep_pitch": False},
            headers=headers,
        )
    )
    task = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert task["status"] == "FAILURE" and task["fail_reason"]
    assert balance(container, key_id) == Decimal("100")


def test_bootstrap_registers_the_tools_engine(tmp_path: Path) -> None:
    from cadenza.bootstrap import build_engines, build_storage
    from cadenza.engines.tools import AudioToolsEngine
    from cadenza.settings import Settings

    settings = Settings(data_dir=tmp_path)
    registry = build_engines(settings, build_storage(settings))
    assert {"CROP", "SPEED_ADJUST", "CONCAT", "UPLOAD"} <= set(registry.actions())
    assert isinstance(registry("CROP"), AudioToolsEngine)
