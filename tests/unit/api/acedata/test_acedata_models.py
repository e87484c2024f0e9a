"""The document's models of AceData's answers against what ``answers`` renders, with JSON
Schema's types (no coercion), for every shape, including those no route serves yet."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel
from test_acedata_answers import STORAGE, T0, clip, view

from cadenza.api.acedata.answers import (
    accepted_answer,
    audios_answer,
    batch_answer,
    clip_object,
    lyrics_answer,
    persona_list_answer,
    style_data,
    success_answer,
    task_record,
)
from cadenza.api.acedata.errors import error_body
from cadenza.api.acedata.models import (
    AceDataAccepted,
    AceDataAnswer,
    AceDataAudiosAnswer,
    AceDataClip,
    AceDataErrorBody,
    AceDataLyrics,
    AceDataPersonaList,
    AceDataSnapshot,
    AceDataStyle,
    AceDataTaskBatch,
    AceDataTaskRecord,
)
from cadenza.domain.actions import Action
from cadenza.domain.library import Persona
from cadenza.domain.tasks import ClipStatus, TaskStatus


def valid(model: type[BaseModel], body: Any) -> bool:
    return jsonschema_rs.validator_for(model.model_json_schema(mode="serialization")).is_valid(body)


def test_clips_in_every_state_and_with_a_concat_history() -> None:
    for status in ClipStatus:
        assert valid(AceDataClip, clip_object(clip(status, duration=None), STORAGE)), status
    joined = clip(ClipStatus.COMPLETE)
    joined.metadata["concat_history"] = [{"id": "c0", "continue_at": 30.0, "type": "gen"}]
    assert valid(AceDataClip, clip_object(joined, STORAGE))
    assert not valid(AceDataClip, {**clip_object(joined, STORAGE), "duration": "154.9"})
    assert not valid(AceDataClip, {**clip_object(joined, STORAGE), "status": "complete"})


def test_submit_answers_and_the_stream() -> None:
    done = view(TaskStatus.SUCCESS, [clip(ClipStatus.COMPLETE, 1), clip(ClipStatus.COMPLETE, 2)])
    assert valid(AceDataAudiosAnswer, audios_answer(done, STORAGE, "tr"))
    assert valid(AceDataAccepted, accepted_answer("t1", "tr"))
    assert not valid(AceDataAccepted, audios_answer(done, STORAGE, "tr"))
    running = view(TaskStatus.IN_PROGRESS, [clip(ClipStatus.STREAMING)])
    assert valid(AceDataSnapshot, audios_answer(running, STORAGE, None))
    failed = view(TaskStatus.FAILURE, [clip(ClipStatus.COMPLETE)])
    # A failed task answers its error (with the clips that can still be played).
    assert valid(AceDataErrorBody, audios_answer(failed, STORAGE, "tr"))
    assert valid(AceDataSnapshot, audios_answer(failed, STORAGE, "tr"))


@pytest.mark.parametrize("status", list(TaskStatus))
def test_task_records_in_every_state(status: TaskStatus) -> None:
    record = task_record(
        view(status, [clip(ClipStatus.COMPLETE)]), STORAGE, request={}, trace_id=""
    )
    assert valid(AceDataTaskRecord, record), record
    assert valid(AceDataTaskBatch, batch_answer([record]))


def test_lyrics_and_tool_records() -> None:
    lyrics = view(TaskStatus.SUCCESS, [], action=Action.LYRICS)
    lyrics.task.result = {"title": "Snow", "text": "[Verse]\nSnow falls", "tags": ["x"]}
    assert valid(AceDataAnswer[list[AceDataLyrics]], lyrics_answer(lyrics.task, "tr"))
    record = task_record(lyrics, STORAGE, request={"prompt": "snow"}, trace_id="tr")
    assert valid(AceDataTaskRecord, record)
    tool = view(TaskStatus.SUCCESS, [])
    for data in ([{"file_url": "https://x/y.wav"}], {"video_url": "https://x/y.mp4"}):
        assert valid(
            AceDataTaskRecord, task_record(tool, STORAGE, request={}, trace_id="tr", data=data)
        )


def test_errors_personas_and_style() -> None:
    assert valid(AceDataErrorBody, error_body("no_token", "No token.", "tr"))
    assert valid(AceDataErrorBody, error_body("timeout", "late", "tr", task_id="t1"))
    assert not valid(AceDataErrorBody, error_body("not_a_code", "x", "tr"))
    persona = Persona(id="p1", key_id="k", name="me", root_clip_id="c1", created_at=T0)
    assert valid(AceDataPersonaList, persona_list_answer([persona], 3, "u"))
    style = success_answer("t1", "tr", style_data("pop, bright"))
    assert valid(AceDataAnswer[AceDataStyle], style)
