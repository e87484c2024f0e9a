"""Every call of both dialects, written once, free of I/O.

A call is a generator: it yields the HTTP requests it needs (``Request``) and the pauses
between polls (``Pause``), receives each answer's decoded body, and returns the typed
result. ``Client`` runs it with blocking httpx, ``AsyncClient`` with async httpx; both
send, retry and turn error answers into ``ApiError`` the same way (``error_of``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cadenza.client.errors import ApiError, TaskFailed, UnsupportedCall, WaitTimeout
from cadenza.client.models import (
    Balance,
    Clip,
    Dialect,
    Lyrics,
    Midi,
    Persona,
    Playlist,
    Task,
    TaskStatus,
    Video,
    Vox,
    Word,
)


@dataclass(frozen=True)
class Request:
    method: str
    #: A path on the server, or an absolute URL (media, presigned upload forms).
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: A retry cannot do the work twice (reads, and submits carrying an Idempotency-Key).
    retry_safe: bool = False
    #: ``json``: the body decoded; ``bytes``: as sent.
    expect: Literal["json", "bytes"] = "json"
    #: multipart fields and one file (name, path) for a presigned upload form.
    form: Mapping[str, str] | None = None
    file: tuple[str, Path] | None = None
    #: Send the API key (media and presigned forms need none).
    keyed: bool = True
    #: Seconds to wait for the answer (None: the client's timeout).
    timeout_s: float | None = None


@dataclass(frozen=True)
class Pause:
    seconds: float


Step = Request | Pause
Call = Generator[Step, Any, Any]

#: Waits the server itself holds open (AceData's synchronous tools, sunocore's video).
LONG_S = 600.0
_PROGRESS = re.compile(r"(\d+(?:\.\d+)?)")

# -- answers --------------------------------------------------------------------------


def error_of(status: int, body: Any, text: str) -> ApiError:
    """The server's code and message from either envelope (sunocore ``{code, message}``,
    AceData ``{error: {code, message}}`` or a bare string), else the HTTP status."""
    code, message = "", ""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            code, message = str(error.get("code") or ""), str(error.get("message") or "")
        elif isinstance(error, str):
            message = error
        if not code and isinstance(body.get("code"), str | int):
            code = str(body["code"])
        if not message:
            message = str(body.get("message") or body.get("detail") or "")
    return ApiError(
        status, code or f"http_{status}", message or text[:500] or "request failed", body
    )


def _data(body: Any) -> Any:
    """sunocore's ``data`` out of ``{code: "success", data}`` (a gateway may answer 200
    with another code)."""
    if not isinstance(body, Mapping):
        raise ApiError(200, "bad_answer", "the answer is not a JSON object", body)
    code = body.get("code")
    if code not in (None, "success", 0, 200, "200"):
        raise ApiError(200, str(code), str(body.get("message") or ""), body)
    return body.get("data")


def _ace(body: Any) -> Mapping[str, Any]:
    """An AceData answer; ``success: false`` with status 200 is still a failure."""
    if not isinstance(body, Mapping):
        raise ApiError(200, "bad_answer", "the answer is not a JSON object", body)
    if body.get("success") is False:
        raise error_of(200, body, "")
    return body


def _progress(value: Any) -> int:
    if isinstance(value, int | float):
        number = float(value)
    else:
        found = _PROGRESS.search(str(value or ""))
        number = float(found.group(1)) if found else 0.0
    if 0 < number <= 1 and not str(value).strip().endswith("%"):
        number *= 100  # a fraction
    return max(0, min(100, round(number)))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _duration(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def sunocore_clip(raw: Mapping[str, Any]) -> Clip:
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    return Clip(
        id=_text(raw.get("id") or raw.get("clip_id")),
        title=_text(raw.get("title")),
        status=_text(raw.get("status")).lower(),
        audio_url=_text(raw.get("audio_url")),
        video_url=_text(raw.get("video_url")),
        image_url=_text(raw.get("image_url")),
        image_large_url=_text(raw.get("image_large_url")),
        duration=_duration(raw.get("duration", meta.get("duration"))),
        tags=_text(raw.get("tags") or meta.get("tags")),
        lyrics=_text(raw.get("lyric") or meta.get("prompt")),
        prompt=_text(raw.get("gpt_description_prompt") or meta.get("gpt_description_prompt")),
        model_name=_text(raw.get("model_name")),
        created_at=_text(raw.get("created_at")),
        raw=dict(raw),
    )


_SUNOCORE_STATUS = {
    "NOT_START": "NOT_START",
    "SUBMITTED": "SUBMITTED",
    "QUEUED": "QUEUED",
    "IN_PROGRESS": "IN_PROGRESS",
    "SUCCESS": "SUCCESS",
    "FAILURE": "FAILURE",
    "FAILED": "FAILURE",
}


def sunocore_task(raw: Mapping[str, Any]) -> Task:
    status: TaskStatus = _SUNOCORE_STATUS.get(  # type: ignore[assignment]
        _text(raw.get("status")).upper(), "IN_PROGRESS"
    )
    data = raw.get("data")
    clips: list[Clip] = []
    lyrics = None
    if isinstance(data, list):
        clips = [sunocore_clip(c) for c in data if isinstance(c, Mapping)]
    elif isinstance(data, Mapping) and "text" in data:
        lyrics = Lyrics(title=_text(data.get("title")), text=_text(data.get("text")))
    return Task(
        id=_text(raw.get("task_id") or raw.get("id")),
        action=_text(raw.get("action")),
        status=status,
        progress=100 if status == "SUCCESS" else _progress(raw.get("progress")),
        fail_reason=_text(raw.get("fail_reason")),
        clips=clips,
        lyrics=lyrics,
        data=data if not clips and lyrics is None else None,
        raw=dict(raw),
    )


_ACE_CLIP_STATES = {
    "pending": "queued",
    "running": "streaming",
    "succeeded": "complete",
    "complete": "complete",
    "error": "error",
    "failed": "error",
}
_ACE_TASK_STATES: dict[str, TaskStatus] = {
    "pending": "QUEUED",
    "processing": "IN_PROGRESS",
    "running": "IN_PROGRESS",
    "complete": "SUCCESS",
    "completed": "SUCCESS",
    "succeeded": "SUCCESS",
    "success": "SUCCESS",
    "failed": "FAILURE",
    "failure": "FAILURE",
    "error": "FAILURE",
    "cancelled": "FAILURE",
    "canceled": "FAILURE",
}


def acedata_clip(raw: Mapping[str, Any]) -> Clip:
    return Clip(
        id=_text(raw.get("id")),
        title=_text(raw.get("title")),
        status=_ACE_CLIP_STATES.get(_text(raw.get("state")).lower(), _text(raw.get("state"))),
        audio_url=_text(raw.get("audio_url")),
        video_url=_text(raw.get("video_url")),
        image_url=_text(raw.get("image_url")),
        image_large_url=_text(raw.get("image_large_url")),
        duration=_duration(raw.get("duration")),
        tags=_text(raw.get("style")),
        lyrics=_text(raw.get("lyric")),
        prompt=_text(raw.get("prompt")),
        model_name=_text(raw.get("model")),
        created_at=_text(raw.get("created_at")),
        raw=dict(raw),
    )


def acedata_task(raw: Mapping[str, Any]) -> Task:
    """A ``/suno/tasks`` record: ``state`` first, then ``status``, then what ``response``
    says (success, error, a finish time)."""
    response = raw.get("response") if isinstance(raw.get("response"), Mapping) else None
    state = _text(raw.get("state") or raw.get("status")).lower()
    status: TaskStatus | None = _ACE_TASK_STATES.get(state)
    if status is None:
        if response is not None and response.get("success") is True:
            status = "SUCCESS"
        elif response is not None and response.get("success") is False:
            status = "FAILURE"
        else:
            status = "IN_PROGRESS" if raw.get("progress") else "QUEUED"
    data = response.get("data") if response is not None else None
    clips: list[Clip] = []
    lyrics = None
    if isinstance(data, list) and data and all(isinstance(c, Mapping) for c in data):
        if all("audio_url" in c for c in data):
            clips = [acedata_clip(c) for c in data]
        elif "text" in data[0]:
            lyrics = Lyrics(title=_text(data[0].get("title")), text=_text(data[0].get("text")))
    reason = ""
    if status == "FAILURE":
        error = (response or {}).get("error") or raw.get("error")
        reason = _text(error.get("message") if isinstance(error, Mapping) else error)
    request = raw.get("request") if isinstance(raw.get("request"), Mapping) else {}
    assert isinstance(request, Mapping)
    return Task(
        id=_text(raw.get("id") or raw.get("task_id")),
        action=_text(request.get("action") or ("generate" if "prompt" in request else "")),
        status=status,
        progress=100 if status == "SUCCESS" else _progress(raw.get("progress")),
        fail_reason=reason,
        clips=clips,
        lyrics=lyrics,
        data=data if not clips and lyrics is None else None,
        raw=dict(raw),
    )


def v1_task(raw: Mapping[str, Any]) -> Task:
    """A task of Cadenza's ``/api/v1``."""
    status: TaskStatus = _SUNOCORE_STATUS.get(  # type: ignore[assignment]
        _text(raw.get("status")).upper(), "IN_PROGRESS"
    )
    result = raw.get("result") if isinstance(raw.get("result"), Mapping) else None
    lyrics = None
    if result is not None and "text" in result:
        lyrics = Lyrics(title=_text(result.get("title")), text=_text(result.get("text")))
    return Task(
        id=_text(raw.get("id")),
        action=_text(raw.get("action")),
        status=status,
        progress=_progress(raw.get("progress")),
        fail_reason=_text(raw.get("fail_reason")),
        clips=[sunocore_clip(c) for c in raw.get("clips") or [] if isinstance(c, Mapping)],
        lyrics=lyrics,
        raw=dict(raw),
    )


# -- the calls ------------------------------------------------------------------------


def _clean(body: Mapping[str, Any]) -> dict[str, Any]:
    """None means "not given": left out of the body."""
    return {k: v for k, v in body.items() if v is not None}


def _idempotent(method: str, path: str, body: Mapping[str, Any]) -> Request:
    """A submit with a fresh Idempotency-Key, kept across its retries: the server answers
    a retry with the task the first attempt made, charged once."""
    return Request(
        method,
        path,
        json=_clean(body),
        headers={"Idempotency-Key": uuid.uuid4().hex},
        retry_safe=True,
    )


ProgressHook = Callable[[Task], None]


class Calls:
    """The calls of one dialect, as generators (see the module's docstring)."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect not in ("sunocore", "acedata"):
            raise ValueError("dialect must be 'sunocore' or 'acedata'")
        self.dialect: Dialect = dialect

    @property
    def sunocore(self) -> bool:
        return self.dialect == "sunocore"

    def _only(self, dialect: Dialect, what: str) -> None:
        if self.dialect != dialect:
            raise UnsupportedCall(f"the {self.dialect} dialect has no {what} call")

    def auth_headers(self, api_key: str) -> dict[str, str]:
        if self.sunocore:
            return {"X-API-Key": api_key}
        return {"Authorization": f"Bearer {api_key}"}

    # -- submits ----------------------------------------------------------------------

    def _submit(self, body: Mapping[str, Any], path: str = "/suno/submit/music") -> Call:
        if self.sunocore:
            answer = yield _idempotent("POST", path, body)
            return _text(_data(answer))
        answer = yield _idempotent("POST", path, {**body, "async": True})
        found = _ace(answer)
        task_id = found.get("task_id") or (found.get("data") or {}).get("task_id")
        if not task_id:
            raise ApiError(200, "bad_answer", "the answer has no task_id", answer)
        return _text(task_id)

    def generate(
        self,
        prompt: str | None = None,
        *,
        lyrics: str | None = None,
        tags: str | None = None,
        title: str | None = None,
        negative_tags: str | None = None,
        instrumental: bool = False,
        model: str | None = None,
        seed: int | None = None,
        persona_id: str | None = None,
        vocal_gender: str | None = None,
        weirdness: float | None = None,
        style_influence: float | None = None,
    ) -> Call:
        """A new song from a description (``prompt``) or from ``lyrics``; the task id."""
        if self.sunocore:
            body: dict[str, Any] = {
                "title": title,
                "tags": tags,
                "negative_tags": negative_tags,
                "mv": model,
                "make_instrumental": instrumental or None,
            }
            if lyrics is not None:
                body["prompt"] = lyrics
                body["gpt_description_prompt"] = prompt
            else:
                body["gpt_description_prompt"] = prompt
            metadata = _clean(
                {
                    "seed": seed,
                    "persona_id": persona_id,
                    "vocal_gender": vocal_gender,
                    "weirdness": weirdness,
                    "style_influence": style_influence,
                }
            )
            if metadata:
                body["metadata"] = metadata
            return (yield from self._submit(body))
        custom = lyrics is not None or (prompt is None and (instrumental or bool(tags)))
        ace: dict[str, Any] = {
            "action": "artist_consistency" if persona_id else "generate",
            "model": model,
            "instrumental": instrumental,
            "title": title,
            "style": tags,
            "negative_tags": negative_tags,
            "persona_id": persona_id,
            "vocal_gender": vocal_gender[:1].lower() if vocal_gender else None,
            "weirdness": weirdness,
            "style_influence": style_influence,
            "seed": seed,
        }
        if custom:
            ace.update(custom=True, lyric=lyrics, prompt=prompt)
        else:
            ace["prompt"] = prompt
        return (yield from self._submit(ace, "/suno/audios"))

    def extend(
        self,
        clip_id: str,
        continue_at: float,
        *,
        lyrics: str | None = None,
        tags: str | None = None,
        title: str | None = None,
        instrumental: bool = False,
        model: str | None = None,
    ) -> Call:
        """Continue a clip from ``continue_at`` seconds; the task id."""
        if self.sunocore:
            body = {
                "task": "extend",
                "continue_clip_id": clip_id,
                "continue_at": continue_at,
                "prompt": lyrics,
                "tags": tags,
                "title": title,
                "mv": model,
                "make_instrumental": instrumental or None,
            }
            return (yield from self._submit(body))
        ace = {
            "action": "extend",
            "audio_id": clip_id,
            "continue_at": continue_at,
            "custom": True,
            "lyric": lyrics,
            "style": tags,
            "title": title,
            "instrumental": instrumental,
            "model": model,
        }
        return (yield from self._submit(ace, "/suno/audios"))

    def cover(
        self,
        clip_id: str,
        *,
        tags: str | None = None,
        prompt: str | None = None,
        title: str | None = None,
        model: str | None = None,
    ) -> Call:
        """The clip's song in another style; the task id."""
        if self.sunocore:
            body = {
                "task": "cover",
                "cover_clip_id": clip_id,
                "tags": tags,
                "gpt_description_prompt": prompt,
                "title": title,
                "mv": model,
            }
            return (yield from self._submit(body))
        ace = {
            "action": "cover",
            "audio_id": clip_id,
            "style": tags,
            "prompt": prompt,
            "title": title,
            "model": model,
        }
        return (yield from self._submit(ace, "/suno/audios"))

    def concat(self, clip_id: str) -> Call:
        """The whole song of an extend chain, from its last clip; the task id."""
        if self.sunocore:
            return (yield from self._submit({"clip_id": clip_id}, "/suno/submit/concat"))
        return (yield from self._submit({"action": "concat", "audio_id": clip_id}, "/suno/audios"))

    def remaster(
        self, clip_id: str, *, model: str | None = None, variation: str | None = None
    ) -> Call:
        if self.sunocore:
            body = {"clip_id": clip_id, "model_name": model, "variation_category": variation}
            return (yield from self._submit(body, "/suno/submit/upsample"))
        ace = {
            "action": "remaster",
            "audio_id": clip_id,
            "model": model,
            "variation_category": variation,
        }
        return (yield from self._submit(ace, "/suno/audios"))

    def stems(self, clip_id: str, *, full: bool = False) -> Call:
        """Vocals and instrumental (``full``: 12 stems) as clips of a new task (AceData)."""
        self._only("acedata", "stems")
        ace = {"action": "all_stems" if full else "stems", "audio_id": clip_id}
        return (yield from self._submit(ace, "/suno/audios"))

    def crop(self, clip_id: str, start_s: float, end_s: float, *, remove: bool = False) -> Call:
        """Keep (or with ``remove`` cut out) a span of a clip (sunocore); the task id."""
        self._only("sunocore", "crop")
        body = {
            "song_id": clip_id,
            "crop_start_s": start_s,
            "crop_end_s": end_s,
            "is_crop_remove": remove,
        }
        return (yield from self._submit(body, "/api/crop"))

    def speed(
        self,
        clip_id: str,
        multiplier: float,
        *,
        keep_pitch: bool = True,
        title: str | None = None,
    ) -> Call:
        """A clip played faster or slower (sunocore); the task id."""
        self._only("sunocore", "speed")
        body = {
            "clip_id": clip_id,
            "speed_multiplier": multiplier,
            "keep_pitch": keep_pitch,
            "title": title,
        }
        return (yield from self._submit(body, "/suno/submit/speed-adjust"))

    def audios(self, action: str, **fields: Any) -> Call:
        """Any ``/suno/audios`` action with its fields as AceData names them
        (``upload_extend``, ``replace_section``, ``mashup`` …); the task id (AceData)."""
        self._only("acedata", "audios")
        return (yield from self._submit({**fields, "action": action}, "/suno/audios"))

    # -- tasks ------------------------------------------------------------------------

    def get(self, task_id: str) -> Call:
        if self.sunocore:
            answer = yield Request("GET", f"/suno/fetch/{task_id}", retry_safe=True)
            found = _data(answer)
            if not isinstance(found, Mapping):
                raise ApiError(404, "not_found", f"task {task_id} not found", answer)
            return sunocore_task(found)
        answer = yield Request(
            "POST", "/suno/tasks", json={"id": task_id, "action": "retrieve"}, retry_safe=True
        )
        if not isinstance(answer, Mapping) or not answer.get("id"):
            raise ApiError(404, "not_found", f"task {task_id} not found", answer)
        return acedata_task(answer)

    def get_many(self, task_ids: list[str]) -> Call:
        if not task_ids:
            return []
        if self.sunocore:
            answer = yield Request("POST", "/suno/fetch", json={"ids": task_ids}, retry_safe=True)
            found = _data(answer) or []
            return [sunocore_task(t) for t in found if isinstance(t, Mapping)]
        answer = yield Request(
            "POST",
            "/suno/tasks",
            json={"ids": task_ids, "action": "retrieve_batch"},
            retry_safe=True,
        )
        items = answer.get("items") if isinstance(answer, Mapping) else None
        return [acedata_task(t) for t in items or [] if isinstance(t, Mapping)]

    def wait(
        self,
        task_id: str,
        *,
        on_progress: ProgressHook | None = None,
        timeout_s: float = 1800.0,
        interval_s: float = 2.0,
        raise_on_failure: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> Call:
        """Polls until the task ends; ``on_progress`` sees every change of its state or
        progress. The finished task; ``TaskFailed`` when it failed (unless
        ``raise_on_failure`` is False), ``WaitTimeout`` when ``timeout_s`` runs out."""
        started = clock()
        seen: tuple[str, int, tuple[str, ...]] | None = None
        while True:
            task: Task = yield from self.get(task_id)
            state = (task.status, task.progress, tuple(c.status for c in task.clips))
            if state != seen and on_progress is not None:
                on_progress(task)
            seen = state
            if task.finished:
                if task.status == "FAILURE" and raise_on_failure:
                    raise TaskFailed(task)
                return task
            waited = clock() - started
            if waited >= timeout_s:
                raise WaitTimeout(task, waited)
            yield Pause(min(interval_s, max(0.0, timeout_s - waited)))

    # -- tools ------------------------------------------------------------------------

    def lyrics(self, prompt: str, *, seed: int | None = None) -> Call:
        """Lyrics written for a description."""
        if self.sunocore:
            task_id = yield from self._submit(
                {"prompt": prompt, "seed": seed}, "/suno/submit/lyrics"
            )
            task: Task = yield from self.wait(task_id, interval_s=0.5)
            return task.lyrics or Lyrics()
        answer = yield Request(
            "POST",
            "/suno/lyrics",
            json={"prompt": prompt, "model": "default"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
            retry_safe=True,
            timeout_s=LONG_S,
        )
        data = _ace(answer).get("data")
        first = data[0] if isinstance(data, list) and data else data
        if not isinstance(first, Mapping):
            raise ApiError(200, "bad_answer", "the answer has no lyrics", answer)
        return Lyrics(title=_text(first.get("title")), text=_text(first.get("text")))

    def _ace_tool(self, path: str, body: Mapping[str, Any]) -> Call:
        """An AceData tool answered once its task has ended (the server holds the request)."""
        answer = yield Request(
            "POST",
            path,
            json=_clean(body),
            headers={"Idempotency-Key": uuid.uuid4().hex},
            retry_safe=True,
            timeout_s=LONG_S,
        )
        return _ace(answer).get("data")

    def video(self, clip_id: str, *, timeout_s: float = 1800.0) -> Call:
        """The clip's MP4 (made on first ask)."""
        if self.sunocore:
            path = f"/suno/act/mp4/{clip_id}"
            answer = yield Request("GET", path, retry_safe=True, timeout_s=LONG_S)
            data = _data(answer) or {}
            if not data.get("video_url") and data.get("task_id"):
                yield from self.wait(_text(data["task_id"]), timeout_s=timeout_s)
                answer = yield Request("GET", path, retry_safe=True, timeout_s=LONG_S)
                data = _data(answer) or {}
            if not data.get("video_url"):
                raise ApiError(200, "not_ready", "the video is not ready", answer)
            return Video(clip_id=clip_id, video_url=_text(data["video_url"]))
        data = yield from self._ace_tool("/suno/mp4", {"audio_id": clip_id})
        url = _text((data or {}).get("video_url"))
        if not url:
            raise ApiError(200, "bad_answer", "the answer has no video_url", data)
        return Video(clip_id=clip_id, video_url=url)

    def midi(self, clip_id: str, *, task_id: str | None = None) -> Call:
        """The clip's MIDI: the file (sunocore, which names the clip's task too) or its
        notes per instrument (AceData)."""
        if self.sunocore:
            if not task_id:
                raise ValueError("the sunocore dialect needs the clip's task_id for MIDI")
            data = yield Request(
                "GET",
                f"/suno/midi/{task_id}/{clip_id}",
                retry_safe=True,
                expect="bytes",
                timeout_s=LONG_S,
            )
            return Midi(clip_id=clip_id, data=data)
        found = yield from self._ace_tool("/suno/midi", {"audio_id": clip_id})
        first = found[0] if isinstance(found, list) and found else {}
        instruments = first.get("instruments") if isinstance(first, Mapping) else None
        return Midi(clip_id=clip_id, instruments=list(instruments or []))

    def wav(self, clip_id: str) -> Call:
        """A link to the clip as WAV (AceData)."""
        self._only("acedata", "wav")
        found = yield from self._ace_tool("/suno/wav", {"audio_id": clip_id})
        first = found[0] if isinstance(found, list) and found else {}
        return _text(first.get("file_url") if isinstance(first, Mapping) else "")

    def words(self, clip_id: str) -> Call:
        """The clip's sung words with their times."""
        if self.sunocore:
            answer = yield Request(
                "GET",
                "/api/get_aligned_lyrics_v3",
                params={"song_id": clip_id},
                retry_safe=True,
                timeout_s=LONG_S,
            )
            data = _data(answer) or {}
        else:
            data = (yield from self._ace_tool("/suno/timing", {"audio_id": clip_id})) or {}
        words = data.get("aligned_words") if isinstance(data, Mapping) else None
        return [
            Word(
                word=_text(w.get("word")),
                start_s=float(w.get("start_s") or 0),
                end_s=float(w.get("end_s") or 0),
            )
            for w in words or []
            if isinstance(w, Mapping)
        ]

    def style(self, tags: str) -> Call:
        """A short style made richer (upsampled tags)."""
        if self.sunocore:
            answer = yield Request(
                "POST", "/api/generate/upsample-tags", json={"original_tags": tags}
            )
            return _text((_data(answer) or {}).get("upsampled_tags"))
        data = (yield from self._ace_tool("/suno/style", {"prompt": tags})) or {}
        return _text(data.get("upsampled_tags") or data.get("text"))

    def create_persona(
        self,
        clip_id: str,
        name: str,
        *,
        description: str = "",
        vox: bool = False,
        vox_audio_id: str | None = None,
        vocal_start: float | None = None,
        vocal_end: float | None = None,
    ) -> Call:
        """A persona (singer and style) from a clip, for later ``generate(persona_id=)``;
        ``vox`` (sunocore) takes the voice from the clip's vocal stem."""
        if self.sunocore:
            if vox:
                path = "/suno/persona/create-with-vox-stem"
                body: dict[str, Any] = {"song_id": clip_id, "name": name}
            else:
                path = "/suno/persona/create"
                body = {"root_clip_id": clip_id, "name": name}
            answer = yield Request(
                "POST", path, json={**body, "description": description}, timeout_s=LONG_S
            )
            data = _data(answer) or {}
        else:
            body = {
                "audio_id": clip_id,
                "name": name,
                "description": description,
                "vox_audio_id": vox_audio_id,
                "vocal_start": vocal_start,
                "vocal_end": vocal_end,
            }
            data = (yield from self._ace_tool("/suno/persona", body)) or {}
        persona_id = _text(data.get("persona_id") or data.get("id"))
        return Persona(id=persona_id, name=_text(data.get("name")) or name, raw=dict(data))

    def vox(
        self, clip_id: str, *, start_s: float | None = None, end_s: float | None = None
    ) -> Call:
        """The clip's vocal, isolated, for a vox persona (AceData)."""
        self._only("acedata", "vox")
        body = {"audio_id": clip_id, "vocal_start": start_s, "vocal_end": end_s}
        data = (yield from self._ace_tool("/suno/vox", body)) or {}
        return Vox(
            id=_text(data.get("id")),
            vocal_audio_url=_text(data.get("vocal_audio_url") or data.get("audio_url")),
            raw=dict(data),
        )

    def voice_persona(self, audio_url: str, name: str, *, description: str = "") -> Call:
        """A persona from a recording of one voice at a public URL (AceData)."""
        self._only("acedata", "voices")
        body = {"audio_url": audio_url, "name": name, "description": description}
        data = (yield from self._ace_tool("/suno/voices", body)) or {}
        return Persona(id=_text(data.get("persona_id")), name=name, raw=dict(data))

    def mashup_lyrics(self, lyrics_a: str, lyrics_b: str) -> Call:
        """Two songs' lyrics woven into one (AceData)."""
        self._only("acedata", "mashup-lyrics")
        body = {"lyrics_a": lyrics_a, "lyrics_b": lyrics_b}
        data = (yield from self._ace_tool("/suno/mashup-lyrics", body)) or {}
        return Lyrics(title=_text(data.get("title")), text=_text(data.get("text")))

    def prompt_image(self, prompt: str) -> Call:
        """A cover image for a description; its URL (sunocore)."""
        self._only("sunocore", "prompt_image")
        answer = yield Request("POST", "/suno/prompt_image", json={"prompt": prompt})
        return _text((_data(answer) or {}).get("image_url"))

    def playlist(self, name: str, clip_ids: list[str]) -> Call:
        self._only("sunocore", "playlist")
        answer = yield Request(
            "POST", "/api/playlist/create_with_clips", json={"name": name, "clip_ids": clip_ids}
        )
        data = _data(answer) or {}
        return Playlist(
            id=_text(data.get("playlist_id") or data.get("id")),
            name=_text(data.get("name")),
            clip_ids=[_text(c) for c in data.get("clip_ids") or []],
        )

    def balance(self) -> Call:
        """The key's balance and limits (sunocore)."""
        self._only("sunocore", "balance")
        answer = yield Request("GET", "/suno/billing/me", retry_safe=True)
        key = (_data(answer) or {}).get("api_key") or {}
        return Balance(
            key_id=_text(key.get("id")),
            name=_text(key.get("name")),
            credits=float(key.get("credits_balance") or 0),
            rate_limit_per_minute=int(key.get("rate_limit_per_minute") or 0),
            concurrency_limit=int(key.get("concurrency_limit") or 0),
            is_admin=bool(key.get("is_admin")),
        )

    def upload_file(self, path: Path, *, timeout_s: float = 600.0) -> Call:
        """An audio file on this machine made a clip, for edits (sunocore's presigned
        upload); the clip."""
        self._only("sunocore", "file upload")
        extension = path.suffix.lstrip(".").lower()
        answer = yield Request(
            "POST", "/suno/api/create_audio_upload", json={"extension": extension}
        )
        slot = _data(answer) or {}
        fields = {str(k): _text(v) for k, v in (slot.get("fields") or {}).items()}
        yield Request("POST", _text(slot.get("url")), form=fields, file=("file", path), keyed=False)
        task_id = yield from self._submit(
            {"upload_id": _text(slot.get("upload_id")), "upload_filename": path.name},
            "/suno/uploads/audio-url",
        )
        task: Task = yield from self.wait(task_id, timeout_s=timeout_s)
        if not task.clips:
            raise ApiError(200, "bad_answer", "the upload made no clip", task.raw)
        return task.clips[0]

    def upload_url(self, audio_url: str) -> Call:
        """A public audio URL made a clip, for edits (AceData); the clip id."""
        self._only("acedata", "URL upload")
        data = (yield from self._ace_tool("/suno/upload", {"audio_url": audio_url})) or {}
        return _text(data.get("audio_id") or data.get("id"))

    def list_tasks(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        status: str | None = None,
        action: str | None = None,
    ) -> Call:
        """The key's tasks, newest first, with the offset of the next page (None: the last).
        Cadenza's own ``/api/v1/tasks``: the dialects have no listing."""
        params = _clean({"limit": limit, "offset": offset, "status": status, "action": action})
        answer = yield Request("GET", "/api/v1/tasks", params=params, retry_safe=True)
        if not isinstance(answer, Mapping):
            raise ApiError(200, "bad_answer", "the answer is not a JSON object", answer)
        tasks = [v1_task(t) for t in answer.get("items") or [] if isinstance(t, Mapping)]
        following = answer.get("next_offset")
        return tasks, int(following) if following is not None else None

    def download(self, url: str) -> Call:
        """The bytes at a media URL."""
        data = yield Request("GET", url, retry_safe=True, expect="bytes", keyed=False)
        return data
