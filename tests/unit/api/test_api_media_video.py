"""GET /suno/act/mp4: a real H.264 + AAC video of the clip, made by an MP4 task, charged once."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from api_media_support import balance, local_path, seed_clip, with_tools
from fastapi.testclient import TestClient

from cadenza.bootstrap import Container, build_runner
from cadenza.engines.registry import EngineRegistry
from cadenza.engines.video import VideoEngine

WORDS = {
    "words": [
        {"word": "hello", "start_s": 0.5, "end_s": 1.0, "line": 0, "section": 0},
        {"word": "world", "start_s": 1.0, "end_s": 1.6, "line": 0, "section": 0},
        {"word": "again", "start_s": 2.2, "end_s": 2.9, "line": 1, "section": 0},
    ]
}


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    """Tools as in production plus the video engine; the route does not wait."""
    built = with_tools(container, queue, engine)
    engines = EngineRegistry(
        {
            **{a: built.engines(a) for a in ("MUSIC", "CROP", "SPEED_ADJUST", "CONCAT", "UPLOAD")},
            "MP4": VideoEngine(built.storage),
        }
    )
    runner = build_runner(built.settings, built.uow, built.storage, engines)
    queue.runner = runner
    settings = built.settings.model_copy(update={"video_wait_s": 0.0})
    return dataclasses.replace(built, settings=settings, engines=engines, runner=runner)


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


def _video_tasks(container: Container, key_id: str) -> list[str]:
    with container.uow() as u:
        entries = u.ledger.list_for_key(key_id, 100)
    return [e.task_id for e in entries if e.entry_type.value == "CONSUME"]


def test_a_slow_video_answers_processing_then_the_url_without_a_second_charge(
    client: TestClient, container: Container, make_key: Any, queue: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    clip = seed_clip(container, key_id, tmp_path, seconds=1.5, stems=False)
    queue.auto = False
    first = client.get(f"/suno/act/mp4/{clip.id}", headers=headers).json()["data"]
    assert first["clip_id"] == clip.id and first["video_url"] is None
    assert first["status"] == "processing" and first["task_id"]
    task = client.get(f"/suno/fetch/{first['task_id']}", headers=headers).json()["data"]
    assert task["action"] == "MP4" and task["status"] == "QUEUED"
    again = client.get(f"/suno/act/mp4/{clip.id}", headers=headers).json()["data"]
    assert again["task_id"] == first["task_id"] and again["video_url"] is None
    assert balance(container, key_id) == Decimal("98")

    queue.drain()
    task = client.get(f"/suno/fetch/{first['task_id']}", headers=headers).json()["data"]
    assert task["status"] == "SUCCESS"
    assert task["data"][0]["video_url"].endswith("/video.mp4")
    done = client.get(f"/suno/act/mp4/{clip.id}", headers=headers).json()["data"]
    assert done["video_url"] == task["data"][0]["video_url"]
    assert "status" not in done
    assert balance(container, key_id) == Decimal("98")
    assert len(queue.enqueued) == 1


def test_a_failed_video_lets_the_next_call_try_again(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    clip = seed_clip(container, key_id, tmp_path, seconds=1.5, stems=False)
    song = local_path(container, clip.files["song.wav"])
    good = song.read_bytes()
    song.write_bytes(b"not audio at all")
    assert client.get(f"/suno/act/mp4/{clip.id}", headers=headers).status_code == 502
    assert balance(container, key_id) == Decimal("100")
    song.write_bytes(good)
    response = client.get(f"/suno/act/mp4/{clip.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["video_url"].endswith(".mp4")
    assert balance(container, key_id) == Decimal("98")
    assert len(set(_video_tasks(container, key_id))) == 2


def test_a_video_task_counts_against_the_concurrency_limit(
    client: TestClient, container: Container, make_key: Any, queue: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key(concurrency=1)
    first = seed_clip(container, key_id, tmp_path, seconds=1.0, stems=False)
    second = seed_clip(container, key_id, tmp_path, seconds=1.0, stems=False)
    queue.auto = False
    assert client.get(f"/suno/act/mp4/{first.id}", headers=headers).status_code == 200
    refused = client.get(f"/suno/act/mp4/{second.id}", headers=headers)
    assert refused.status_code == 429, refused.text
    assert balance(container, key_id) == Decimal("98")


def test_the_route_waits_for_a_video_rendered_elsewhere(
    client: TestClient, container: Container, make_key: Any, queue: Any, tmp_path: Path
) -> None:
    key_id, headers = make_key()
    clip = seed_clip(container, key_id, tmp_path, seconds=1.0, stems=False)
    queue.auto = False
    client.app.state.container = dataclasses.replace(  # type: ignore[attr-defined]
        container, settings=container.settings.model_copy(update={"video_wait_s": 30.0})
    )

    def worker() -> None:  # another process's worker: runs the task once it is queued
        for _ in range(500):
            if queue.pending:
                queue.drain()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        body = client.get(f"/suno/act/mp4/{clip.id}", headers=headers).json()["data"]
    finally:
        thread.join()
    assert body["video_url"].endswith(".mp4") and "status" not in body
