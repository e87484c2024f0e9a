"""A streaming clip's preview in sunocore's clip shape (Suno's ``stream`` audio)."""

from __future__ import annotations

from typing import Any

from cadenza.api.sunocore.schemas import clip_object
from cadenza.domain.tasks import Clip, ClipStatus


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
