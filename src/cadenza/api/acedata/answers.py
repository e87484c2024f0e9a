"""The answers of the AceData dialect (seed 002), rendered from the domain's views.

Plain dicts, in the field order the seed shows. The shapes follow what the official
clients read (contract §2.4, §3): every clip has a numeric ``duration``; an async submit
answers ``data: []``; a ``/suno/tasks`` record has no ``response`` key until its task ends
and no ``error`` key unless it failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cadenza.api.acedata.errors import JOB_FAILED
from cadenza.domain.actions import Action
from cadenza.domain.library import Persona
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, TaskView
from cadenza.services.ports import MediaStorage

#: Clip ``state`` (seed): pending (queued), running, succeeded, error.
CLIP_STATES: dict[ClipStatus, str] = {
    ClipStatus.SUBMITTED: "pending",
    ClipStatus.QUEUED: "pending",
    ClipStatus.STREAMING: "running",
    ClipStatus.COMPLETE: "succeeded",
    ClipStatus.ERROR: "error",
}

#: Record ``state`` of ``/suno/tasks`` (MCP, Skills) and ``status`` (the CLI's words).
TASK_STATES: dict[TaskStatus, tuple[str, str]] = {
    TaskStatus.NOT_START: ("pending", "pending"),
    TaskStatus.SUBMITTED: ("pending", "pending"),
    TaskStatus.QUEUED: ("pending", "pending"),
    TaskStatus.IN_PROGRESS: ("running", "processing"),
    TaskStatus.SUCCESS: ("complete", "complete"),
    TaskStatus.FAILURE: ("failed", "failed"),
}


def iso(moment: datetime | None) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z`` (``2025-06-17T15:59:32.468Z``)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(moment: datetime | None) -> float | None:
    """Epoch seconds with milliseconds, as AceData's task records write them."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp(), 3)


def _url(storage: MediaStorage, key: str | None, ready: bool) -> str:
    return storage.url(key) if ready and key else ""


def clip_object(clip: Clip, storage: MediaStorage) -> dict[str, Any]:
    """A clip (contract §2.4). Media URLs appear once the clip is complete; ``duration``
    is always a number (0 until known) because MCP formats it with ``:.1f``.

    A ``running`` clip whose beginning is rendered already plays it: ``audio_url`` is
    its preview and ``duration`` the preview's length so far."""
    ready = clip.status is ClipStatus.COMPLETE
    preview = clip.preview()
    duration = float(clip.duration) if clip.duration is not None else 0.0
    audio_url = _url(storage, clip.audio_key, ready)
    if preview is not None:
        audio_url, duration = storage.url(preview[0]), preview[1]
    body: dict[str, Any] = {
        "id": clip.id,
        "title": clip.title,
        "image_url": _url(storage, clip.image_key, ready),
        "image_large_url": _url(storage, clip.image_large_key, ready),
        "lyric": clip.lyrics,
        "audio_url": audio_url,
        "video_url": _url(storage, clip.video_key, ready),
        "created_at": iso(clip.created_at),
        "model": clip.model_name,
        "state": CLIP_STATES[clip.status],
        "prompt": clip.gpt_description_prompt,
        "style": clip.tags,
        "duration": duration,
    }
    history = clip.metadata.get("concat_history")
    if isinstance(history, list):
        body["concat_history"] = history
    return body


def clips_data(view: TaskView, storage: MediaStorage) -> list[dict[str, Any]]:
    return [clip_object(clip, storage) for clip in view.clips]


def success_answer(task_id: str, trace_id: str | None, data: Any) -> dict[str, Any]:
    """``{success: true, task_id, trace_id, data}``; ``trace_id`` None leaves it out (the
    ndjson stream writes it on its last line only)."""
    body: dict[str, Any] = {"success": True, "task_id": task_id}
    if trace_id is not None:
        body["trace_id"] = trace_id
    body["data"] = data
    return body


def accepted_answer(task_id: str, trace_id: str) -> dict[str, Any]:
    """The immediate answer in async and callback modes: MCP needs ``success``,
    ``task_id`` and a ``data`` key; the data comes later (poll or callback)."""
    return success_answer(task_id, trace_id, [])


def failure_answer(
    task_id: str, trace_id: str, code: str, message: str, data: Any = None
) -> dict[str, Any]:
    """A task that failed, as a callback or a record's ``response`` carries it; ``data``
    (playable clips of a partial result) is kept when given, as Web shows them."""
    body: dict[str, Any] = {
        "success": False,
        "task_id": task_id,
        "trace_id": trace_id,
        "error": {"code": code, "message": message},
    }
    if data is not None:
        body["data"] = data
    return body


def task_failure(task: Task) -> tuple[str, str]:
    """(code, message) of a failed task, from its recorded reason."""
    reason = task.fail_reason or ""
    lowered = reason.lower()
    if "timed out" in lowered or "timeout" in lowered or "deadline" in lowered:
        return "timeout", reason
    return "api_error", reason or JOB_FAILED


def lyrics_data(task: Task) -> list[dict[str, Any]]:
    """A lyrics task's ``data``: a list (MCP-old and the CLI read ``data[].text``)."""
    result = task.result or {}
    return [
        {
            "text": str(result.get("text") or ""),
            "title": str(result.get("title") or ""),
            "status": "complete",
            "tags": [str(t) for t in result.get("tags") or []],
        }
    ]


def task_data(view: TaskView, storage: MediaStorage) -> Any:
    """What ``data`` holds for a task of this action: lyrics, a tool's data (contract §4)
    or clips."""
    render = _TOOL_DATA.get(view.task.action)
    if render is not None:
        return render(view, storage)
    return clips_data(view, storage)


def _result(task: Task) -> dict[str, Any]:
    return task.result or {}


def _lyrics_or_mashup(view: TaskView, storage: MediaStorage) -> Any:
    """``/suno/lyrics`` answers a list; ``/suno/mashup-lyrics`` one object."""
    if view.task.params.get("mashup"):
        return {**lyrics_data(view.task)[0], "tags": []}
    return lyrics_data(view.task)


def upload_data(view: TaskView, storage: MediaStorage) -> dict[str, Any]:
    """``/suno/upload``: the clip the upload became (Docs(Upload)); ``audio_id`` feeds the
    upload_* actions."""
    if not view.clips:
        return {"audio_id": ""}
    clip = clip_object(view.clips[0], storage)
    return {
        "audio_id": clip["id"],
        "title": clip["title"],
        "audio_url": clip["audio_url"],
        "image_url": clip["image_url"],
        "image_large_url": clip["image_large_url"],
        "lyric": clip["lyric"],
        "style": clip["style"],
        "duration": clip["duration"],
    }


def persona_data(view: TaskView, storage: MediaStorage) -> dict[str, Any]:
    """``/suno/persona`` (``{persona_id}``) and ``/suno/voices`` (also ``name`` and
    ``is_public``)."""
    params = view.task.params
    persona_id = str(params.get("persona_id") or "")
    if params.get("source_type") == "voice":
        return {"name": str(params.get("name") or ""), "is_public": False, "persona_id": persona_id}
    return {"persona_id": persona_id}


def vox_data(view: TaskView, storage: MediaStorage) -> dict[str, Any]:
    """``/suno/vox``: the excerpt's id is the ``vox_audio_id`` of ``/suno/persona``."""
    result = _result(view.task)
    audio_key = str(result.get("audio_key") or "")
    return {
        "id": str(result.get("vox_clip_id") or ""),
        "source_clip_id": str(result.get("source_clip_id") or ""),
        "status": "complete",
        "vocal_audio_url": storage.url(audio_key) if audio_key else "",
        "vocal_start_s": float(result.get("start_s") or 0.0),
        "vocal_end_s": float(result.get("end_s") or 0.0),
        "wave_response": {"waveform_aggregates": list(result.get("waveform_aggregates") or [])},
    }


def wav_data(view: TaskView, storage: MediaStorage) -> list[dict[str, Any]]:
    """``/suno/wav``: ``[{file_url}]``."""
    return [{"file_url": storage.url(str(k))} for k in _result(view.task).get("files") or []]


def midi_data(view: TaskView, storage: MediaStorage) -> list[dict[str, Any]]:
    """``/suno/midi``: the notes per instrument (Docs(MIDI)); Web builds the file."""
    instruments = _result(view.task).get("instruments")
    if instruments is None:
        return []
    return [{"state": "complete", "instruments": list(instruments)}]


def timing_data(view: TaskView, storage: MediaStorage) -> dict[str, Any]:
    """``/suno/timing``: ``{aligned_words, waveform_data, hoot_cer, is_streamed}``."""
    result = _result(view.task)
    return {
        "aligned_words": list(result.get("aligned_words") or []),
        "waveform_data": list(result.get("waveform_data") or []),
        "hoot_cer": float(result.get("hoot_cer") or 0.0),
        "is_streamed": bool(result.get("is_streamed")),
    }


def video_data(view: TaskView, storage: MediaStorage) -> dict[str, Any]:
    """``/suno/mp4``: ``{video_url}`` of the video the MP4 task made."""
    made = next((c.video_key for c in view.clips if c.video_key), None)
    return {"video_url": storage.url(made) if made else ""}


def tags_data(view: TaskView, storage: MediaStorage) -> dict[str, Any]:
    return style_data(str(_result(view.task).get("upsampled_tags") or ""))


def audios_answer(
    view: TaskView, storage: MediaStorage, trace_id: str | None, data: Any = None
) -> dict[str, Any]:
    """The sync answer of ``/suno/audios`` (and the body POSTed to a ``callback_url``),
    also one line of the ndjson stream (``trace_id`` None but on the last line)."""
    task = view.task
    if task.status is TaskStatus.FAILURE:
        code, message = task_failure(task)
        clips = clips_data(view, storage) if data is None else data
        return failure_answer(task.id, trace_id or "", code, message, clips or None)
    return success_answer(task.id, trace_id, task_data(view, storage) if data is None else data)


def callback_body(view: TaskView, storage: MediaStorage) -> bytes:
    """What is POSTed to a task's ``callback_url``: its final sync answer, carrying the
    trace id of the submit, so a receiver gets what a blocking request would have."""
    origin = view.task.origin or {}
    trace_id = str(origin.get("trace_id") or view.task.id)
    return json.dumps(audios_answer(view, storage, trace_id), ensure_ascii=False).encode()


def lyrics_answer(task: Task, trace_id: str) -> dict[str, Any]:
    """``POST /suno/lyrics``: the written lyrics, ``data`` a list."""
    return success_answer(task.id, trace_id, lyrics_data(task))


def task_record(
    view: TaskView,
    storage: MediaStorage,
    *,
    request: Mapping[str, Any] | None,
    trace_id: str | None,
    data: Any = None,
) -> dict[str, Any]:
    """A ``/suno/tasks`` record ("record shape that satisfies all clients", contract §3).

    ``request`` is the body the client submitted; ``trace_id`` the submit's (the task id
    when unknown). ``data`` replaces the rendered clips/lyrics for tasks whose result is
    neither (vox, wav, midi, mp4).
    """
    task = view.task
    trace = trace_id or task.id
    state, status = TASK_STATES[task.status]
    record: dict[str, Any] = {
        "id": task.id,
        "created_at": epoch(task.submit_time),
        "trace_id": trace,
        "state": state,
        "status": status,
        # A string: the CLI puts it in a rich table cell, which refuses an int.
        "progress": f"{max(0, min(100, int(task.progress)))}%",
        "request": dict(request) if request is not None else {},
    }
    if task.status is TaskStatus.SUCCESS:
        record["finished_at"] = epoch(task.finish_time)
        payload = task_data(view, storage) if data is None else data
        record["response"] = success_answer(task.id, trace, payload)
    elif task.status is TaskStatus.FAILURE:
        code, message = task_failure(task)
        record["finished_at"] = epoch(task.finish_time)
        record["response"] = failure_answer(task.id, trace, code, message)
        # MCP-old reports ``record["error"]``; only failed records carry it.
        record["error"] = {"code": code, "message": message}
    return record


def batch_answer(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``retrieve_batch``: ``{items, count}`` (no ``error`` key: MCP stops on one)."""
    return {"items": [dict(r) for r in records], "count": len(records)}


def persona_object(
    persona: Persona, user_id: str = "", source_audio_url: str = ""
) -> dict[str, Any]:
    """A persona as ``GET /suno/persona`` lists it (``source_type`` "voice" for one made
    from a recording, else "persona"); Web plays ``source_audio_url``."""
    source = str(persona.reference.get("source_type") or "persona")
    return {
        "id": persona.id,
        "persona_id": persona.id,
        "name": persona.name,
        "description": persona.description,
        "user_id": user_id,
        "created_at": epoch(persona.created_at),
        "source_type": source,
        "source_audio_id": persona.root_clip_id,
        "source_audio_url": source_audio_url,
        "task_id": persona.task_id or "",
    }


def persona_list_answer(
    personas: Iterable[Persona],
    count: int,
    user_id: str = "",
    sources: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``GET /suno/persona``: ``{count, items}``; ``count`` is the total, not the page.
    ``sources``: each persona's source audio URL, by persona id."""
    urls = sources or {}
    items = [persona_object(p, user_id, urls.get(p.id, "")) for p in personas]
    return {"count": count, "items": items}


def style_data(tags: str) -> dict[str, Any]:
    """``/suno/style``: Docs say ``upsampled_tags``, Web and the CLI read ``text``."""
    return {"upsampled_tags": tags, "text": tags}


#: ``data`` of the tasks whose result is not a list of clips, by action.
_TOOL_DATA: dict[str, Callable[[TaskView, MediaStorage], Any]] = {
    Action.LYRICS.value: _lyrics_or_mashup,
    Action.UPLOAD.value: upload_data,
    Action.PERSONA.value: persona_data,
    Action.VOX_PERSONA.value: persona_data,
    Action.VOX.value: vox_data,
    Action.WAV.value: wav_data,
    Action.MIDI.value: midi_data,
    Action.ALIGNED_LYRICS.value: timing_data,
    Action.MP4.value: video_data,
    Action.UPSAMPLE_TAGS.value: tags_data,
}
