"""GET /suno/act/mp4: a real H.264 + AAC video of the clip, charged once."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from api_media_support import balance, local_path, seed_clip, with_tools
from fastapi.testclient import TestClient

from cadenza.bootstrap import Container

WORDS = {
    "words": [
        {"word": "hello", "start_s": 0.5, "end_s": 1.0, "line": 0, "section": 0},
        {"word": "world", "start_s": 1.0, "end_s": 1.6, "line": 0, "section": 0},
        {"word": "again", "start_s": 2.2, "end_s": 2.9, "line": 1, "section": 0},
    ]
}


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    return with_tools(container, queue, engine)


def _streams(path: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            "ffprobe", "-v", "error", "-show_entries",
            "stream=codec_type,codec_name,duration", "-of", "json", str(path),
        ],
        capture_output=True,
        check=True,
    )  # fmt: skip
    streams: list[dict[str, Any]] = json.loads(done.stdout)["streams"]
    return streams


def test_video_of_a_clip_is_made_once_and_charged_once(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    clip = seed_clip(
        container, key_id, tmp_path, seconds=4.0, stems=False, lyrics_json=json.dumps(WORDS)
    )
    response = client.get(f"/suno/act/mp4/{clip.id}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "success" and body["message"] == ""
    assert body["data"]["clip_id"] == clip.id
    url = body["data"]["video_url"]
    assert url.startswith("http://testserver/media/") and url.endswith(".mp4")
    path = local_path(container, url.removeprefix("http://testserver/media/"))
    streams = _streams(path)
    video = [s for s in streams if s["codec_type"] == "video"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    assert [s["codec_name"] for s in video] == ["h264"]
    assert [s["codec_name"] for s in audio] == ["aac"]
    for stream in streams:
        assert float(stream["duration"]) == pytest.approx(4.0, abs=0.15)
    assert balance(container, key_id) == Decimal("98")

    again = client.get(f"/suno/act/mp4/{clip.id}", headers=headers).json()
    assert again["data"]["video_url"] == url
    assert balance(container, key_id) == Decimal("98")
    with container.uow() as u:
        stored = u.clips.get(clip.id)
    assert stored is not None and stored.video_key and stored.files["video.mp4"]


def test_broken_cover_is_redrawn(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    clip = seed_clip(container, key_id, tmp_path, seconds=1.5, stems=False)
    local_path(container, clip.files["cover_large.png"]).write_bytes(b"not an image")
    response = client.get(f"/suno/act/mp4/{clip.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert balance(container, key_id) == Decimal("98")


def test_failed_video_is_refunded(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    clip = seed_clip(container, key_id, tmp_path, seconds=2.0, stems=False)
    local_path(container, clip.files["song.wav"]).write_bytes(b"not audio at all")
    response = client.get(f"/suno/act/mp4/{clip.id}", headers=headers)
    assert response.status_code == 502
    assert balance(container, key_id) == Decimal("100")
    assert client.get("/suno/act/mp4/no-such-clip", headers=headers).status_code == 404
