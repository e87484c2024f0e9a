"""A streaming clip's preview in sunocore's clip shape (Suno's ``stream`` audio), and both
dialects' polls playing it while the task runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cadenza.api.sunocore.schemas import clip_object
from cadenza.domain.tasks import Clip, ClipStatus
from cadenza.services.ports import PartialReporter, ProgressCallback


class Storage:
    def url(self, key: str) -> str:
        return f"http://media.test/{key}"


STORAGE: Any = Storage()


def test_a_streaming_clip_plays_its_preview_until_the_song_is_complete() -> None:
    clip = Clip(id="c1", task_id="t1", key_id="k", status=ClipStatus.STREAMING)
    assert clip_object(clip, STORAGE)["audio_url"] == ""
    clip.files["preview.mp3"] = "clips/c1-x/preview.mp3"
    clip.metadata["preview_duration"] = 17.6
    body = clip_object(clip, STORAGE)
    assert body["status"] == "streaming"
    assert body["audio_url"] == "http://media.test/clips/c1-x/preview.mp3"
    assert body["duration"] is None and body["image_url"] == ""
    assert "preview_duration" not in body["metadata"] and body["metadata"]["stream"] is True
    clip.status, clip.audio_key, clip.duration = ClipStatus.COMPLETE, "clips/c1-x/song.mp3", 170.0
    assert clip_object(clip, STORAGE)["audio_url"] == "http://media.test/clips/c1-x/song.mp3"
    clip.status = ClipStatus.ERROR
    assert clip_object(clip, STORAGE)["audio_url"] == ""


class GatedPreviewEngine:
    """Hands each clip's preview over, then waits to be let go before finishing."""

    name = "gated"

    def __init__(self) -> None:
        self.previewed = threading.Event()
        self.go_on = threading.Event()

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: ProgressCallback
    ) -> list[dict[str, Any]]:
        assert isinstance(progress, PartialReporter)
        for clip_id in params["clip_ids"]:
            head = workdir / f"{clip_id}-preview.mp3"
            head.parent.mkdir(parents=True, exist_ok=True)
            head.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + clip_id.encode() * 50)
            progress.partial(
                {
                    "id": clip_id,
                    "files": {"preview.mp3": str(head)},
                    "meta": {"preview_duration": 9.5},
                }
            )
        self.previewed.set()
        assert self.go_on.wait(30)
        results = []
        for clip_id in params["clip_ids"]:
            song = workdir / f"{clip_id}.mp3"
            song.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"song" * 100)
            files = {"song.mp3": str(song), "preview.mp3": str(workdir / f"{clip_id}-preview.mp3")}
            results.append({"id": clip_id, "files": files, "meta": {"duration": 60.0}})
        return results


@pytest.fixture
def engine() -> GatedPreviewEngine:
    return GatedPreviewEngine()


def test_polls_of_both_dialects_play_the_preview_while_the_task_runs(
    client: TestClient, queue: Any, make_key: Any, engine: GatedPreviewEngine
) -> None:
    queue.auto = False
    _, headers = make_key()
    body = {"title": "Head", "tags": "pop", "prompt": "[Verse]\nla la", "mv": "chirp-v4"}
    task_id = client.post("/suno/submit/music", json=body, headers=headers).json()["data"]
    # Polled once before: the poll's cached rendering must not outlive the preview.
    queued = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert all(c["audio_url"] == "" for c in queued["data"])
    worker = threading.Thread(target=queue.drain)
    worker.start()
    try:
        assert engine.previewed.wait(30)
        task = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
        assert task["status"] == "IN_PROGRESS"
        urls = [c["audio_url"] for c in task["data"]]
        assert [c["status"] for c in task["data"]] == ["streaming", "streaming"]
        assert all(url.endswith("/preview.mp3") for url in urls) and len(set(urls)) == 2
        for clip, url in zip(task["data"], urls, strict=True):
            played = client.get(url.removeprefix("http://testserver"))
            assert played.status_code == 200 and played.content.startswith(b"ID3")
            assert clip["id"].encode() in played.content
        bearer = {"Authorization": f"Bearer {headers['X-API-Key']}"}
        record = client.post("/suno/tasks", json={"id": task_id}, headers=bearer).json()
        assert record["state"] == "running" and "response" not in record
    finally:
        engine.go_on.set()
        worker.join(30)
    done = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert done["status"] == "SUCCESS"
    for clip, url in zip(done["data"], urls, strict=True):
        assert clip["audio_url"].endswith("/song.mp3") and clip["audio_url"] != url
        assert "preview_duration" not in clip["metadata"]
