"""AceData answers rendered from task views: clip shape, submit answers, task records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cadenza.api.acedata.answers import (
    accepted_answer,
    audios_answer,
    batch_answer,
    clip_object,
    lyrics_answer,
    persona_list_answer,
    style_data,
    task_record,
)
from cadenza.domain.actions import Action
from cadenza.domain.library import Persona
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, TaskView

T0 = datetime(2025, 6, 17, 15, 59, 32, 468000, tzinfo=UTC)
T1 = datetime(2025, 6, 17, 16, 1, 2, 5000, tzinfo=UTC)
BODY = {"prompt": "A song for Christmas", "model": "chirp-v4-5", "async": True}


class Storage:
    def url(self, key: str) -> str:
        return f"https://music.example.com/media/{key}"


STORAGE: Any = Storage()


def clip(status: ClipStatus, n: int = 1, duration: float | None = 154.92) -> Clip:
    return Clip(
        id=f"c{n}",
        task_id="t1",
        key_id="k",
        title="Under the Mistletoe",
        tags="holiday, cheerful",
        prompt="[Verse]\nSnow",
        gpt_description_prompt="A song for Christmas",
        lyrics="[Verse]\nSnow",
        model_name="chirp-v4-5",
        status=status,
        duration=duration,
        audio_key=f"c{n}.mp3",
        image_key=f"c{n}.jpeg",
        image_large_key=f"c{n}_large.jpeg",
        created_at=T0,
    )


def view(status: TaskStatus, clips: list[Clip], action: str = Action.MUSIC) -> TaskView:
    task = Task(
        id="t1", key_id="k", action=action, params={}, price=10, status=status, submit_time=T0
    )
    if status.finished:
        task.finish_time = T1
    if status is TaskStatus.FAILURE:
        task.fail_reason = "render failed: out of memory"
    return TaskView(task=task, clips=clips)


def test_clip_shape_matches_the_seed() -> None:
    body = clip_object(clip(ClipStatus.COMPLETE), STORAGE)
    assert list(body) == [
        "id",
        "title",
        "image_url",
        "image_large_url",
        "lyric",
        "audio_url",
        "video_url",
        "created_at",
        "model",
        "state",
        "prompt",
        "style",
        "duration",
    ]
    assert body["created_at"] == "2025-06-17T15:59:32.468Z"
    assert body["state"] == "succeeded" and body["video_url"] == ""
    assert body["audio_url"] == "https://music.example.com/media/c1.mp3"
    assert body["prompt"] == "A song for Christmas" and body["style"] == "holiday, cheerful"
    assert body["duration"] == 154.92


def test_clip_states_and_numeric_duration() -> None:
    states = {
        ClipStatus.SUBMITTED: "pending",
        ClipStatus.QUEUED: "pending",
        ClipStatus.STREAMING: "running",
        ClipStatus.COMPLETE: "succeeded",
        ClipStatus.ERROR: "error",
    }
    for status, state in states.items():
        body = clip_object(clip(status, duration=None), STORAGE)
        assert body["state"] == state and body["duration"] == 0.0
        if status is not ClipStatus.COMPLETE:
            assert body["audio_url"] == "" and body["image_url"] == ""


def test_a_running_clip_with_a_preview_plays_it() -> None:
    running = clip(ClipStatus.STREAMING, duration=None)
    running.files["preview.mp3"] = "clips/c1-x/preview.mp3"
    running.metadata["preview_duration"] = 17.6
    body = clip_object(running, STORAGE)
    assert body["state"] == "running"
    assert body["audio_url"] == "https://music.example.com/media/clips/c1-x/preview.mp3"
    assert body["duration"] == 17.6 and body["image_url"] == ""
    assert "preview_duration" not in body
    running.status, running.duration = ClipStatus.COMPLETE, 154.92
    done = clip_object(running, STORAGE)  # complete: the song, not the preview
    assert done["audio_url"].endswith("/c1.mp3") and done["duration"] == 154.92


def test_concat_history_passes_through() -> None:
    c = clip(ClipStatus.COMPLETE)
    c.metadata["concat_history"] = [{"id": "a", "continue_at": 2, "type": "gen"}]
    assert clip_object(c, STORAGE)["concat_history"][0]["id"] == "a"


def test_submit_answers() -> None:
    assert accepted_answer("t1", "tr") == {
        "success": True,
        "task_id": "t1",
        "trace_id": "tr",
        "data": [],
    }
    done = audios_answer(
        view(TaskStatus.SUCCESS, [clip(ClipStatus.COMPLETE, 1), clip(ClipStatus.COMPLETE, 2)]),
        STORAGE,
        "tr",
    )
    assert list(done) == ["success", "task_id", "trace_id", "data"]
    assert done["success"] is True and len(done["data"]) == 2
    line = audios_answer(view(TaskStatus.QUEUED, [clip(ClipStatus.QUEUED)]), STORAGE, None)
    assert "trace_id" not in line and line["data"][0]["state"] == "pending"
    failed = audios_answer(view(TaskStatus.FAILURE, [clip(ClipStatus.ERROR)]), STORAGE, "tr")
    assert failed["success"] is False
    assert failed["error"] == {"code": "api_error", "message": "render failed: out of memory"}


def test_pending_record_has_no_response_and_no_error() -> None:
    record = task_record(
        view(TaskStatus.QUEUED, [clip(ClipStatus.QUEUED)]), STORAGE, request=BODY, trace_id="tr"
    )
    assert record == {
        "id": "t1",
        "created_at": round(T0.timestamp(), 3),
        "trace_id": "tr",
        "state": "pending",
        "status": "pending",
        "progress": "0%",
        "request": BODY,
    }
    running = task_record(view(TaskStatus.IN_PROGRESS, []), STORAGE, request=BODY, trace_id="tr")
    assert (running["state"], running["status"]) == ("running", "processing")
    assert "response" not in running and "error" not in running


def test_complete_record() -> None:
    record = task_record(
        view(TaskStatus.SUCCESS, [clip(ClipStatus.COMPLETE)]), STORAGE, request=BODY, trace_id=None
    )
    assert record["state"] == "complete" and record["status"] == "complete"
    assert isinstance(record["created_at"], float) and record["finished_at"] == round(
        T1.timestamp(), 3
    )
    assert "error" not in record
    response = record["response"]
    assert response["success"] is True and response["task_id"] == "t1"
    assert response["trace_id"] == "t1"  # no trace id kept: the task id stands in
    assert response["data"][0]["audio_url"].startswith("https://")
    json.dumps(record)


def test_failed_record() -> None:
    record = task_record(
        view(TaskStatus.FAILURE, [clip(ClipStatus.ERROR)]), STORAGE, request=BODY, trace_id="tr"
    )
    assert (record["state"], record["status"]) == ("failed", "failed")
    assert record["response"] == {
        "success": False,
        "task_id": "t1",
        "trace_id": "tr",
        "error": {"code": "api_error", "message": "render failed: out of memory"},
    }
    assert record["error"]["code"] == "api_error" and "finished_at" in record


def test_timeout_failure_code() -> None:
    v = view(TaskStatus.FAILURE, [])
    v.task.fail_reason = "timed out after 900 s"
    assert task_record(v, STORAGE, request={}, trace_id="tr")["response"]["error"]["code"] == (
        "timeout"
    )


def test_lyrics() -> None:
    v = view(TaskStatus.SUCCESS, [], action=Action.LYRICS)
    v.task.result = {"title": "Snow", "text": "[Verse]\nSnow falls"}
    answer = lyrics_answer(v.task, "tr")
    assert answer["data"] == [
        {"text": "[Verse]\nSnow falls", "title": "Snow", "status": "complete", "tags": []}
    ]
    record = task_record(v, STORAGE, request={"prompt": "snow"}, trace_id="tr")
    assert record["response"]["data"][0]["title"] == "Snow"


def test_tool_data_replaces_clips() -> None:
    record = task_record(
        view(TaskStatus.SUCCESS, []),
        STORAGE,
        request={},
        trace_id="tr",
        data=[{"file_url": "https://x/y.wav"}],
    )
    assert record["response"]["data"] == [{"file_url": "https://x/y.wav"}]


def test_batch_and_misc() -> None:
    records = [task_record(view(TaskStatus.QUEUED, []), STORAGE, request={}, trace_id="a")]
    assert batch_answer(records) == {"items": records, "count": 1}
    persona = Persona(id="p1", key_id="k", name="me", root_clip_id="c1", created_at=T0)
    listing = persona_list_answer([persona], 3, "u")
    assert listing["count"] == 3 and listing["items"][0]["persona_id"] == "p1"
    assert listing["items"][0]["source_type"] == "persona"
    assert style_data("pop, bright") == {"upsampled_tags": "pop, bright", "text": "pop, bright"}
