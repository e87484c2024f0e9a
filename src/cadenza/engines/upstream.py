"""Clients of upstream services, one per dialect, with their failures sorted by what
they prove: whether the upstream certainly made nothing (``Refused``), may have made
something (``Ambiguous``), or refused the request itself (``Rejected``).

The sorting happens here, at the adapter's edge, because only here is it known whether
the request left this machine and what came back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import httpx

from cadenza.domain.music import MusicRequest


class Refused(Exception):
    """The upstream made no task (connection refused, 5xx or 429 before a task id, its
    key refused): another channel may take it."""


class Ambiguous(Exception):
    """The request may have reached the upstream and its answer was lost: only that
    upstream can say whether it made the task."""


class Rejected(Exception):
    """The upstream refused the request as invalid: another would too."""


class PollFailed(Exception):
    """A poll got no usable answer; the upstream task may still be running."""


@dataclass(frozen=True)
class UpstreamClip:
    id: str
    audio_url: str
    image_url: str = ""
    image_large_url: str = ""
    title: str = ""
    tags: str = ""
    lyrics: str = ""
    duration: float | None = None
    #: A concat clip's segments, oldest first, naming the upstream's clips.
    concat_history: tuple[dict[str, Any], ...] = ()


def _history(value: object) -> tuple[dict[str, Any], ...]:
    return tuple(e for e in value if isinstance(e, dict)) if isinstance(value, list) else ()


def _put_given(body: dict[str, Any], options: dict[str, Any], **renamed: str) -> None:
    """AceData's optional song fields, set where the option is given: ``style``, ``title``
    and ``model``, and the ``renamed`` ones (AceData's name = the option's)."""
    names = {"style": "tags", "title": "title", "model": "model", **renamed}
    for field_name, option in names.items():
        if options.get(option):
            body[field_name] = options[option]


@dataclass(frozen=True)
class UpstreamLyrics:
    title: str
    text: str


@dataclass(frozen=True)
class UpstreamWord:
    """A word the upstream sang in its clip, with its time (seconds into the clip)."""

    word: str
    start_s: float
    end_s: float
    #: How sure the upstream is of the times (1.0 where it does not say).
    p_align: float = 1.0


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _words(value: object) -> list[UpstreamWord]:
    """The aligned words of either dialect's answer; entries that are not a word with two
    numeric times are left out."""
    words = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("word"), str):
            continue
        start, end = _number(item.get("start_s")), _number(item.get("end_s"))
        if start is None or end is None:
            continue
        sure = _number(item.get("p_align"))
        words.append(UpstreamWord(item["word"], start, end, 1.0 if sure is None else sure))
    return words


@dataclass(frozen=True)
class UpstreamTask:
    """An upstream task, in Cadenza's words: a song's (or a stem split's) clips, a lyrics
    task's lyrics, or the URLs of the files an export made (a WAV)."""

    status: str  # QUEUED, IN_PROGRESS, SUCCESS, FAILURE
    progress: int = 0
    fail_reason: str = ""
    clips: list[UpstreamClip] = field(default_factory=list)
    lyrics: UpstreamLyrics | None = None
    files: list[str] = field(default_factory=list)


class Upstream(Protocol):
    """One channel's service, spoken to in its dialect."""

    def submit_music(self, request: MusicRequest, submit_key: str) -> str:
        """The upstream task id; ``submit_key`` makes a repeat find the first one's task."""
        ...

    def submit_lyrics(self, prompt: str, submit_key: str) -> str:
        """The id of the upstream's task writing lyrics for ``prompt`` (as ``submit_music``)."""
        ...

    def submit_stems(self, upstream_clip_id: str, submit_key: str, *, full: bool = False) -> str:
        """The id of the upstream's task splitting its clip into vocals and instrumental
        (``full``: two sets of Suno's twelve stems), as ``submit_music``; ``Rejected``
        where the dialect has no such request."""
        ...

    def submit_wav(self, upstream_clip_id: str, submit_key: str) -> str:
        """The id of the upstream's task exporting its clip as WAV (as ``submit_stems``)."""
        ...

    def submit_remaster(
        self, upstream_clip_id: str, model: str, variation: str, submit_key: str
    ) -> str:
        """The id of the upstream's task remastering its clip (as ``submit_stems``)."""
        ...

    def submit_edit(
        self, action: str, upstream_clip_id: str, options: dict[str, Any], submit_key: str
    ) -> str:
        """The id of the upstream's task making one clip of its clip: ``CONCAT`` (the whole
        song of the extend chain ending there; ``is_infill``), ``CROP`` (``start_s``,
        ``end_s``, ``remove``), ``SPEED_ADJUST`` (``multiplier``, ``keep_pitch``,
        ``title``) or ``REPLACE_SECTION`` (``start_s``, ``end_s``, ``lyrics``,
        ``infill_lyrics``, ``tags``, ``title``, ``model``); or two songs of its clip and
        another: ``MASHUP`` (``with``, ``lyrics``, ``description``, ``instrumental``,
        ``tags``, ``title``, ``model``), as ``submit_stems``."""
        ...

    def fetch_many(self, upstream_ids: Sequence[str]) -> dict[str, UpstreamTask]:
        """The tasks asked for that the upstream has (one request for all of them); the
        ones it leaves out it does not know."""
        ...

    def aligned_words(self, upstream_clip_id: str) -> list[UpstreamWord]:
        """The words sung in the upstream's clip with their times, read at once (the
        upstream makes nothing to poll); empty where it sang none. ``Refused`` where
        the upstream cannot answer now, ``Rejected`` where it refused the request."""
        ...

    def close(self) -> None: ...


#: Ids in one poll (sunocore answers up to 2000, new-api sends up to 1000).
POLL_BATCH = 100


def _classify(exc: httpx.HTTPError) -> Exception:
    """A transport error of a submit: refused only if nothing could have been sent."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return Refused(f"could not connect ({type(exc).__name__})")
    if isinstance(exc, httpx.TimeoutException):
        return Ambiguous(f"no answer in time ({type(exc).__name__})")
    return Ambiguous(f"the connection broke ({type(exc).__name__})")


def _status_error(response: httpx.Response) -> Exception:
    status = response.status_code
    if status == 504:
        # A gateway in between gave up waiting: the upstream may have made it.
        return Ambiguous("the upstream's gateway timed out")
    if status in (401, 402, 403, 429) or status >= 500:
        return Refused(f"the upstream answered HTTP {status}")
    return Rejected(f"the upstream refused the request (HTTP {status}): {_message(response)}")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for name in ("message", "msg"):
            if isinstance(body.get(name), str):
                return str(body[name])[:200]
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:200]
    return ""


class _DialectClient(ABC):
    """What both dialects' clients share: one pooled HTTP client per channel, and the
    sorting of a submit's outcome, so every submit of every dialect proves the same."""

    #: Extra headers of every request.
    HEADERS: ClassVar[dict[str, str]] = {}

    def __init__(
        self, base_url: str, key: str, *, submit_timeout_s: float, poll_timeout_s: float = 10.0
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}", **self.HEADERS},
            trust_env=False,
            follow_redirects=False,
            # Shared by every relay of the channel: no wait for a connection (a pool
            # timeout would read as an upstream that never answered).
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self._submit_timeout = httpx.Timeout(submit_timeout_s, connect=min(5.0, submit_timeout_s))
        self._poll_timeout = httpx.Timeout(poll_timeout_s, connect=min(5.0, poll_timeout_s))

    def close(self) -> None:
        self._client.close()

    def _submit(self, path: str, body: dict[str, Any], submit_key: str) -> str:
        """Sends one submit; its task id, or ``Refused``, ``Ambiguous`` or ``Rejected``."""
        try:
            response = self._client.post(
                path,
                json=body,
                headers={"Idempotency-Key": submit_key},
                timeout=self._submit_timeout,
            )
        except httpx.HTTPError as exc:
            raise _classify(exc) from exc
        if response.status_code != 200:
            raise self._refusal(response)
        try:
            answer = response.json()
        except ValueError:
            raise Ambiguous("the upstream's answer is not JSON") from None
        task_id = self._task_id(answer) if isinstance(answer, dict) else None
        if not task_id:
            raise Ambiguous("the upstream's answer has no task id")
        return task_id

    def _refusal(self, response: httpx.Response) -> Exception:
        """What an answer other than 200 proves, in this dialect."""
        return _status_error(response)

    def _read(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One read that makes nothing upstream: its JSON object, ``Refused`` where none
        came back (a read is safe to ask again), ``Rejected`` where it was refused."""
        try:
            response = self._client.request(method, path, timeout=self._poll_timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise Refused(f"no answer ({type(exc).__name__})") from exc
        if response.status_code != 200:
            error = self._refusal(response)
            raise error if isinstance(error, Rejected) else Refused(str(error))
        try:
            answer = response.json()
        except ValueError:
            raise Refused("the upstream's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise Refused("the upstream's answer is not an object")
        return answer

    @abstractmethod
    def _task_id(self, answer: dict[str, Any]) -> str | None:
        """The task id a 200 answer carries, in this dialect (None: it carries none)."""


#: Why a sunocore upstream is never asked for a follow-up its dialect lacks (nothing sent).
NO_SUNOCORE_REQUEST = "the sunocore dialect has no {what} request"


class SunocoreUpstream(_DialectClient):
    """A sunocore-dialect service (another Cadenza, or a gateway speaking it)."""

    def submit_music(self, request: MusicRequest, submit_key: str) -> str:
        body: dict[str, Any] = {
            "title": request.title,
            "tags": request.tags,
            "negative_tags": request.negative_tags,
            "mv": request.model,
            "make_instrumental": request.instrumental,
        }
        if request.lyrics:
            body["prompt"] = request.lyrics
        if request.description:
            body["gpt_description_prompt"] = request.description
        if request.continue_clip_id:
            body.update(task="extend", continue_clip_id=request.continue_clip_id)
            if request.continue_at is not None:
                body["continue_at"] = request.continue_at
        elif request.cover_clip_id:
            body.update(task="cover", cover_clip_id=request.cover_clip_id)
        return self._submit("/suno/submit/music", body, submit_key)

    def submit_lyrics(self, prompt: str, submit_key: str) -> str:
        return self._submit("/suno/submit/lyrics", {"prompt": prompt}, submit_key)

    def submit_stems(self, upstream_clip_id: str, submit_key: str, *, full: bool = False) -> str:
        raise Rejected(NO_SUNOCORE_REQUEST.format(what="stems"))

    def submit_wav(self, upstream_clip_id: str, submit_key: str) -> str:
        raise Rejected(NO_SUNOCORE_REQUEST.format(what="WAV export"))

    def submit_remaster(
        self, upstream_clip_id: str, model: str, variation: str, submit_key: str
    ) -> str:
        raise Rejected(NO_SUNOCORE_REQUEST.format(what="remaster"))

    def submit_edit(
        self, action: str, upstream_clip_id: str, options: dict[str, Any], submit_key: str
    ) -> str:
        # Seed 000's three edit requests, each naming the clip in its own way.
        if action == "CONCAT":
            body: dict[str, Any] = {
                "clip_id": upstream_clip_id,
                "is_infill": bool(options.get("is_infill")),
            }
            return self._submit("/suno/submit/concat", body, submit_key)
        if action == "CROP":
            body = {
                "song_id": upstream_clip_id,
                "crop_start_s": options["start_s"],
                "crop_end_s": options["end_s"],
                "is_crop_remove": bool(options.get("remove")),
            }
            return self._submit("/api/crop", body, submit_key)
        if action == "SPEED_ADJUST":
            body = {
                "clip_id": upstream_clip_id,
                "speed_multiplier": options["multiplier"],
                "keep_pitch": bool(options.get("keep_pitch", True)),
            }
            if options.get("title"):
                body["title"] = options["title"]
            return self._submit("/suno/submit/speed-adjust", body, submit_key)
        raise Rejected(NO_SUNOCORE_REQUEST.format(what=action.lower()))

    def _refusal(self, response: httpx.Response) -> Exception:
        if response.status_code == 422 and "idempotency" in _message(response).lower():
            # The first submit under this key is still being handled there.
            return Ambiguous("the upstream is still handling the first submit")
        return _status_error(response)

    def _task_id(self, answer: dict[str, Any]) -> str | None:
        data = answer.get("data")
        return data if isinstance(data, str) and answer.get("code") == "success" else None

    def aligned_words(self, upstream_clip_id: str) -> list[UpstreamWord]:
        answer = self._read(
            "GET", "/api/get_aligned_lyrics_v3", params={"song_id": upstream_clip_id}
        )
        if answer.get("code") not in (None, "success"):
            raise Rejected(f"the upstream refused: {answer.get('message') or answer['code']}")
        data = answer.get("data")
        return _words(data.get("aligned_words") if isinstance(data, dict) else data)

    def fetch_many(self, upstream_ids: Sequence[str]) -> dict[str, UpstreamTask]:
        try:
            response = self._client.post(
                "/suno/fetch", json={"ids": list(upstream_ids)}, timeout=self._poll_timeout
            )
        except httpx.HTTPError as exc:
            raise PollFailed(f"poll failed ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise PollFailed(f"poll answered HTTP {response.status_code}")
        try:
            answer = response.json()
            found = {str(t["task_id"]): t for t in answer["data"] if isinstance(t, dict)}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PollFailed("poll answer is not a task list") from None
        wanted = set(upstream_ids)
        return {i: _sunocore_task(t) for i, t in found.items() if i in wanted}


def _sunocore_task(task: dict[str, Any]) -> UpstreamTask:
    try:
        progress = int(str(task.get("progress") or "0").rstrip("%") or 0)
    except ValueError:
        progress = 0
    clips = []
    data = task.get("data")
    for clip in data if isinstance(data, list) else []:
        if not isinstance(clip, dict):
            continue
        duration = clip.get("duration")
        clips.append(
            UpstreamClip(
                id=str(clip.get("id") or ""),
                audio_url=str(clip.get("audio_url") or ""),
                image_url=str(clip.get("image_url") or ""),
                image_large_url=str(clip.get("image_large_url") or ""),
                title=str(clip.get("title") or ""),
                tags=str(clip.get("tags") or ""),
                lyrics=str(clip.get("lyric") or ""),
                duration=float(duration) if isinstance(duration, int | float) else None,
                concat_history=_history((clip.get("metadata") or {}).get("concat_history"))
                if isinstance(clip.get("metadata"), dict)
                else (),
            )
        )
    status = str(task.get("status") or "")
    if status not in ("SUCCESS", "FAILURE"):
        status = "IN_PROGRESS" if status == "IN_PROGRESS" else "QUEUED"
    return UpstreamTask(
        status=status,
        progress=max(0, min(100, progress)),
        fail_reason=str(task.get("fail_reason") or ""),
        clips=clips,
        # A lyrics task's data is one object, not a list of clips.
        lyrics=_lyrics(data) if isinstance(data, dict) else None,
    )


def _lyrics(item: dict[str, Any]) -> UpstreamLyrics | None:
    text = item.get("text")
    if not isinstance(text, str):
        return None
    return UpstreamLyrics(title=str(item.get("title") or ""), text=text)


#: AceData's 400s that say the key, not the request, is wrong: another channel may take it.
ACEDATA_KEY_CODES = frozenset({"no_token", "token_mismatched", "disabled"})
ACEDATA_DONE = frozenset({"complete", "completed", "succeeded", "success"})
ACEDATA_FAILED = frozenset({"failed", "failure", "error", "cancelled", "canceled"})


class AceDataUpstream(_DialectClient):
    """An AceData-dialect service (AceData itself, or a Cadenza speaking it): submits songs
    with ``async`` so the answer is the task id at once, and polls ``/suno/tasks``."""

    HEADERS: ClassVar[dict[str, str]] = {"Accept": "application/json"}

    def submit_music(self, request: MusicRequest, submit_key: str) -> str:
        body: dict[str, Any] = {
            "action": "generate",
            "model": request.model,
            "async": True,
            "instrumental": request.instrumental,
            "title": request.title,
            "style": request.tags,
        }
        if request.negative_tags:
            body["negative_tags"] = request.negative_tags
        if request.lyrics:
            body.update(custom=True, lyric=request.lyrics)
        elif request.description:
            body.update(custom=False, prompt=request.description)
        else:
            body["custom"] = True
        if request.continue_clip_id:
            body.update(action="extend", audio_id=request.continue_clip_id, custom=True)
            if request.continue_at is not None:
                body["continue_at"] = request.continue_at
        elif request.cover_clip_id:
            body.update(action="cover", audio_id=request.cover_clip_id)
        return self._submit("/suno/audios", body, submit_key)

    def submit_lyrics(self, prompt: str, submit_key: str) -> str:
        # AceData writes lyrics synchronously: the answer carries them, and its task id,
        # which the polls then find finished.
        return self._submit("/suno/lyrics", {"prompt": prompt}, submit_key)

    def submit_stems(self, upstream_clip_id: str, submit_key: str, *, full: bool = False) -> str:
        action = "all_stems" if full else "stems"
        body = {"action": action, "audio_id": upstream_clip_id, "async": True}
        return self._submit("/suno/audios", body, submit_key)

    def submit_wav(self, upstream_clip_id: str, submit_key: str) -> str:
        # ``async``: the answer is the task id at once, the file's URL comes with the polls.
        body = {"audio_id": upstream_clip_id, "async": True}
        return self._submit("/suno/wav", body, submit_key)

    def submit_remaster(
        self, upstream_clip_id: str, model: str, variation: str, submit_key: str
    ) -> str:
        body: dict[str, Any] = {
            "action": "remaster",
            "audio_id": upstream_clip_id,
            "variation_category": variation,
            "async": True,
        }
        if model:
            body["model"] = model
        return self._submit("/suno/audios", body, submit_key)

    def submit_edit(
        self, action: str, upstream_clip_id: str, options: dict[str, Any], submit_key: str
    ) -> str:
        body: dict[str, Any] = {"audio_id": upstream_clip_id, "async": True}
        if action == "CONCAT":
            body["action"] = "concat"
        elif action == "REPLACE_SECTION":
            body.update(
                action="replace_section",
                replace_section_start=options["start_s"],
                replace_section_end=options["end_s"],
                custom=True,
            )
            _put_given(body, options, lyric="lyrics", prompt="infill_lyrics")
        elif action == "MASHUP":
            del body["audio_id"]
            lyrics = options.get("lyrics")
            body.update(
                action="mashup",
                mashup_audio_ids=[upstream_clip_id, options["with"]],
                instrumental=bool(options.get("instrumental")),
                custom=bool(lyrics),
            )
            _put_given(body, options, lyric="lyrics", prompt="description")
        else:  # AceData crops and speeds nothing
            raise Rejected(f"the acedata dialect has no {action.lower()} request")
        return self._submit("/suno/audios", body, submit_key)

    def _refusal(self, response: httpx.Response) -> Exception:
        code = _acedata_code(response)
        if "idempotency" in code or "idempotency" in _message(response).lower():
            return Ambiguous("the upstream is still handling the first submit")
        if response.status_code == 400 and code in ACEDATA_KEY_CODES:
            return Refused(f"the upstream refused its key ({code})")
        return _status_error(response)

    def _task_id(self, answer: dict[str, Any]) -> str | None:
        task_id = answer.get("task_id")
        return task_id if isinstance(task_id, str) and answer.get("success") is True else None

    def aligned_words(self, upstream_clip_id: str) -> list[UpstreamWord]:
        answer = self._read("POST", "/suno/timing", json={"audio_id": upstream_clip_id})
        if answer.get("success") is not True:
            error = answer.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            raise Rejected(f"the upstream refused: {message or 'no success'}")
        data = answer.get("data")
        return _words(data.get("aligned_words") if isinstance(data, dict) else None)

    def fetch_many(self, upstream_ids: Sequence[str]) -> dict[str, UpstreamTask]:
        try:
            response = self._client.post(
                "/suno/tasks",
                json={"ids": list(upstream_ids), "action": "retrieve_batch"},
                timeout=self._poll_timeout,
            )
        except httpx.HTTPError as exc:
            raise PollFailed(f"poll failed ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise PollFailed(f"poll answered HTTP {response.status_code}")
        try:
            items = response.json()["items"]
            records = {str(r["id"]): r for r in items if isinstance(r, dict)}
        except (ValueError, KeyError, TypeError):
            raise PollFailed("poll answer is not a task batch") from None
        wanted = set(upstream_ids)
        return {i: _acedata_task(r) for i, r in records.items() if i in wanted}


def _acedata_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def _acedata_task(record: dict[str, Any]) -> UpstreamTask:
    state = str(record.get("state") or record.get("status") or "").lower()
    answer = record.get("response")
    answer = answer if isinstance(answer, dict) else {}
    try:
        progress = int(str(record.get("progress") or "0").rstrip("%") or 0)
    except ValueError:
        progress = 0
    if state in ACEDATA_FAILED or answer.get("success") is False:
        error = answer.get("error") or record.get("error")
        reason = error.get("message") if isinstance(error, dict) else error
        return UpstreamTask(status="FAILURE", fail_reason=str(reason or ""))
    if state not in ACEDATA_DONE or answer.get("success") is not True:
        running = state in ("running", "processing")
        return UpstreamTask(
            status="IN_PROGRESS" if running else "QUEUED", progress=max(0, min(99, progress))
        )
    clips = []
    files: list[str] = []
    lyrics: UpstreamLyrics | None = None
    data = answer.get("data")
    for clip in data if isinstance(data, list) else [data] if isinstance(data, dict) else []:
        if not isinstance(clip, dict):
            continue
        if "text" in clip and "audio_url" not in clip:
            # ``/suno/lyrics`` answers its lyrics in a list, where songs have clips.
            lyrics = lyrics or _lyrics(clip)
            continue
        if "file_url" in clip and "audio_url" not in clip:
            # ``/suno/wav`` answers ``[{file_url}]``.
            if isinstance(clip["file_url"], str) and clip["file_url"]:
                files.append(clip["file_url"])
            continue
        duration = clip.get("duration")
        clips.append(
            UpstreamClip(
                id=str(clip.get("id") or ""),
                audio_url=str(clip.get("audio_url") or ""),
                image_url=str(clip.get("image_url") or ""),
                image_large_url=str(clip.get("image_large_url") or ""),
                title=str(clip.get("title") or ""),
                tags=str(clip.get("style") or ""),
                lyrics=str(clip.get("lyric") or ""),
                duration=float(duration) if isinstance(duration, int | float) else None,
                concat_history=_history(clip.get("concat_history")),
            )
        )
    return UpstreamTask(status="SUCCESS", progress=100, clips=clips, lyrics=lyrics, files=files)
