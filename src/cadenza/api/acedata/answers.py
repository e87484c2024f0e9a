"""The answers of the AceData dialect (seed 002), rendered from the domain's views.

Plain dicts, in the field order the seed shows. The shapes follow what the official
clients read (contract §2.4, §3): every clip has a numeric ``duration``; an async submit
answers ``data: []``; a ``/suno/tasks`` record has no ``response`` key until its task ends
and no ``error`` key unless it failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
    """What ``data`` holds for a task of this action: lyrics or clips."""
    if view.task.action == Action.LYRICS:
        return lyrics_data(view.task)
    return clips_data(view, storage)


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
        "progress": max(0, min(100, int(task.progress))),
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


def persona_object(persona: Persona, user_id: str = "") -> dict[str, Any]:
    """A persona as ``GET /suno/persona`` lists it (``source_type`` "voice" for one made
    from a recording, else "persona")."""
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
        "source_audio_url": str(persona.reference.get("audio_url") or ""),
        "task_id": persona.task_id or "",
    }


def persona_list_answer(
    personas: Iterable[Persona], count: int, user_id: str = ""
) -> dict[str, Any]:
    """``GET /suno/persona``: ``{count, items}``; ``count`` is the total, not the page."""
    return {"count": count, "items": [persona_object(p, user_id) for p in personas]}


def style_data(tags: str) -> dict[str, Any]:
    """``/suno/style``: Docs say ``upsampled_tags``, Web and the CLI read ``text``."""
    return {"upsampled_tags": tags, "text": tags}
