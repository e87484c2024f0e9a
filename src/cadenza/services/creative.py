"""Creative actions on a finished clip, whichever dialect asks: replace a section (sing a
window again with new lines), Add Vocals (sing over an instrumental), Add Instrumental (a
band under an a cappella upload), samples (a new song
built on a loop of the clip), mashup (a new song from two clips) and inspo (a new song in
the style of reference recordings).

Everything a client can get wrong is checked here before the charge, so a bad request is
a 400 (or the 404 of a clip that is not the key's) and costs nothing: the clip is the
key's, complete, has audio and a score (generated, or analysed from an upload), and the
window lies inside it. The work runs in the compose engine
(``compose.engine_creative``) on the worker that holds the source's files.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.callbacks import Callback
from cadenza.domain.errors import InvalidInput
from cadenza.domain.models import resolve_model
from cadenza.domain.tasks import Clip, Task
from cadenza.services import tasks
from cadenza.services.media import MAX_TITLE, edited_clip, source_clip, source_route
from cadenza.services.ports import TaskQueue, UnitOfWorkFactory

#: Clips each action makes.
REPLACE_SECTION_CLIPS = 1
ADD_VOCALS_CLIPS = 2
ADD_INSTRUMENTAL_CLIPS = 2
SAMPLES_CLIPS = 2
MASHUP_CLIPS = 2
INSPO_CLIPS = 2
MAX_REFERENCES = 4
#: Longest lyrics the creative actions sing.
MAX_LYRICS = 5000


def _window(
    clip: Clip, start_s: float | None, end_s: float | None, name: str
) -> tuple[float, float | None]:
    """``[start, end)`` inside the clip, in the dialects' words for a window outside it."""
    duration = float(clip.duration or 0.0)
    start = 0.0 if start_s is None else float(start_s)
    if start < 0:
        raise InvalidInput(f"{name}_start must be a number greater than or equal to 0")
    if start >= duration:
        raise InvalidInput(f"{name}_start must be less than the song length ({duration:.2f} s)")
    if end_s is not None:
        end = float(end_s)
        if end <= start:
            raise InvalidInput(f"{name}_end must be greater than {name}_start")
        if end > duration + 1e-3:
            raise InvalidInput(f"{name}_end must be less than the song length ({duration:.2f} s)")
        return start, min(end, duration)
    return start, None


def _scored(clip: Clip) -> str:
    key = clip.files.get("score.json")
    if not key:
        raise InvalidInput(
            f"clip {clip.id} has no score to edit (an upload from before audio analysis:"
            " upload it again)"
        )
    return key


def _text(value: str | None, name: str) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_LYRICS:
        raise InvalidInput(f"{name} is longer than {MAX_LYRICS} characters")
    return value.strip()


def _model(model: str | None, clip: Clip) -> tuple[str, str]:
    """The model name the clip shows and its major version."""
    if not model:
        return clip.model_name, clip.major_model_version
    spec = resolve_model(model)
    return (model if model.startswith("chirp-") else spec.name), spec.major_version


def _max_duration(model: str) -> int:
    try:
        return resolve_model(model).max_duration_s
    except InvalidInput:
        return 240


def _submit(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    action: Action,
    clip: Clip,
    params: dict[str, Any],
    fields: dict[str, Any],
    clips: int,
    *,
    request: Mapping[str, Any],
    idempotency_key: str | None,
    deadline_s: int,
    origin: dict[str, Any] | None,
    callback: Callback | None,
    route: str | None = None,
) -> Task:
    return tasks.submit(
        uow,
        queue,
        key,
        action.value,
        params,
        clip_count=clips,
        clip_fields=fields,
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        route=route or source_route(uow, clip),
        request={"action": action.value, **dict(request)},
        origin=origin,
        callback=callback,
    )


def _common(clip: Clip, score_key: str) -> dict[str, Any]:
    return {
        "source_clip_id": clip.id,
        "source_score_key": score_key,
        "source_files": {
            name: value
            for name, value in clip.files.items()
            if name == "song.wav" or name.startswith("stems/")
        },
        "source_type": "upload" if clip.metadata.get("type") == "upload" else "gen",
        "source_duration": float(clip.duration or 0.0),
        "seed": secrets.randbelow(2**31),
    }


def submit_replace_section(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    start_s: float | None,
    end_s: float | None,
    lyrics: str | None,
    infill_lyrics: str | None,
    tags: str = "",
    title: str = "",
    model: str | None = None,
    vocal_gender: str | None = None,
    request: Mapping[str, Any] | None = None,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    relay_route: str | None = None,
) -> Task:
    """One clip: the source with ``[start_s, end_s)`` (moved to bar lines) sung again
    with ``infill_lyrics`` (else the lines of ``lyrics``); ``lyrics`` is the whole song's
    new text, as the clip shows it. A relayed clip (``relay_route``) is sung again by
    the channel that made it, which alone has its score."""
    if end_s is None:
        raise InvalidInput("replace_section_end is required when replace_section audio")
    lyrics = _text(lyrics, "lyric")
    infill_lyrics = _text(infill_lyrics, "prompt")
    if lyrics is None and infill_lyrics is None:
        raise InvalidInput("lyric is required when replace_section audio")
    relayed = relay_route is not None
    clip = edited_clip(uow, key, clip_id, relay_route)
    source = {"source_clip_id": clip.id} if relayed else _common(clip, _scored(clip))
    start, end = _window(clip, start_s, end_s, "replace_section")
    model_name, major = _model(model, clip)
    name = (title.strip() or clip.title or "Untitled")[:MAX_TITLE]
    shown = lyrics or clip.lyrics
    params = {
        **source,
        "start_s": start,
        "end_s": end,
        "lyrics": lyrics,
        "infill_lyrics": infill_lyrics or "",
        "tags": tags.strip(),
        "title": name,
        "model_name": model_name,
        "major_model_version": major,
        "vocal_gender": vocal_gender,
    }
    fields = {
        "title": name,
        "tags": tags.strip() or clip.tags,
        "negative_tags": clip.negative_tags,
        "prompt": shown,
        "lyrics": shown,
        "gpt_description_prompt": "",
        "model_name": model_name,
        "major_model_version": major,
    }
    return _submit(
        uow,
        queue,
        key,
        Action.REPLACE_SECTION,
        clip,
        params,
        fields,
        REPLACE_SECTION_CLIPS,
        request=request if request is not None else params | {"seed": None},
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
        route=relay_route,
    )


def is_instrumental(clip: Clip) -> bool:
    """An upload (whatever it holds) or a clip made without vocals."""
    if clip.metadata.get("type") == "upload":
        return True
    return bool(clip.metadata.get("instrumental")) or not (clip.lyrics or "").strip()


def submit_add_vocals(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    start_s: float | None,
    end_s: float | None,
    lyrics: str | None,
    tags: str = "",
    title: str = "",
    model: str | None = None,
    vocal_gender: str | None = None,
    request: Mapping[str, Any] | None = None,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """Two clips: the instrumental with ``lyrics`` sung over its chords and beat grid
    within ``[start_s, end_s)`` (default: all of it)."""
    lyrics = _text(lyrics, "lyric")
    if lyrics is None:
        raise InvalidInput("lyric is required when overpainting audio")
    clip = source_clip(uow, key, clip_id)
    if not is_instrumental(clip):
        raise InvalidInput(f"clip {clip.id} has vocals already: overpainting needs an instrumental")
    score_key = _scored(clip)
    start, end = _window(clip, start_s, end_s, "overpainting")
    model_name, major = _model(model, clip)
    name = (title.strip() or clip.title or "Untitled")[:MAX_TITLE]
    params = {
        **_common(clip, score_key),
        "start_s": start,
        "end_s": end,
        "lyrics": lyrics,
        "tags": tags.strip() or clip.tags,
        "title": name,
        "model_name": model_name,
        "major_model_version": major,
        "vocal_gender": vocal_gender,
    }
    fields = {
        "title": name,
        "tags": tags.strip() or clip.tags,
        "negative_tags": clip.negative_tags,
        "prompt": lyrics,
        "lyrics": lyrics,
        "gpt_description_prompt": "",
        "model_name": model_name,
        "major_model_version": major,
    }
    return _submit(
        uow,
        queue,
        key,
        Action.ADD_VOCALS,
        clip,
        params,
        fields,
        ADD_VOCALS_CLIPS,
        request=request if request is not None else params | {"seed": None},
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
    )


def submit_add_instrumental(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    start_s: float | None,
    end_s: float | None,
    tags: str = "",
    title: str = "",
    model: str | None = None,
    request: Mapping[str, Any] | None = None,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """Two clips: a band in ``tags``' style arranged under an a cappella upload within
    ``[start_s, end_s)`` (default: all of it), the upload as their Vocals stem."""
    clip = source_clip(uow, key, clip_id)
    if clip.metadata.get("type") != "upload":
        raise InvalidInput(
            f"clip {clip.id} is not an upload: underpainting needs an uploaded a cappella vocal"
        )
    score_key = _scored(clip)
    start, end = _window(clip, start_s, end_s, "underpainting")
    model_name, major = _model(model, clip)
    name = (title.strip() or clip.title or "Untitled")[:MAX_TITLE]
    style = tags.strip() or clip.tags
    params = {
        **_common(clip, score_key),
        "start_s": start,
        "end_s": end,
        "tags": style,
        "title": name,
        "model_name": model_name,
        "major_model_version": major,
    }
    fields = {
        "title": name,
        "tags": style,
        "negative_tags": clip.negative_tags,
        "prompt": "",
        "lyrics": "",
        "gpt_description_prompt": "",
        "model_name": model_name,
        "major_model_version": major,
    }
    return _submit(
        uow,
        queue,
        key,
        Action.ADD_INSTRUMENTAL,
        clip,
        params,
        fields,
        ADD_INSTRUMENTAL_CLIPS,
        request=request if request is not None else params | {"seed": None},
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
    )


def submit_samples(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    start_s: float | None,
    end_s: float | None,
    lyrics: str | None = None,
    description: str | None = None,
    instrumental: bool = False,
    tags: str = "",
    title: str = "",
    model: str | None = None,
    vocal_gender: str | None = None,
    request: Mapping[str, Any] | None = None,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """Two clips: new songs in ``tags``' style (with ``lyrics``, or lyrics written from
    ``description``, or none) built on a loop of the clip's ``[start_s, end_s)``."""
    lyrics = None if instrumental else _text(lyrics, "lyric")
    description = _text(description, "prompt")
    if description is not None and len(description) > 500:
        raise InvalidInput("Topic too long.")
    clip = source_clip(uow, key, clip_id)
    score_key = _scored(clip)
    start, end = _window(clip, start_s, end_s, "samples")
    model_name, major = _model(model, clip)
    name = title.strip()[:MAX_TITLE]
    params = {
        **_common(clip, score_key),
        "start_s": start,
        "end_s": end,
        "lyrics": lyrics,
        "description": description,
        "instrumental": bool(instrumental),
        "tags": tags.strip(),
        "title": name,
        "model_name": model_name,
        "major_model_version": major,
        "max_duration_s": _max_duration(model_name),
        "vocal_gender": vocal_gender,
    }
    fields = {
        "title": name,
        "tags": tags.strip() or clip.tags,
        "negative_tags": "",
        "prompt": lyrics or "",
        "lyrics": lyrics or "",
        "gpt_description_prompt": description or "",
        "model_name": model_name,
        "major_model_version": major,
    }
    return _submit(
        uow,
        queue,
        key,
        Action.SAMPLES,
        clip,
        params,
        fields,
        SAMPLES_CLIPS,
        request=request if request is not None else params | {"seed": None},
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
    )


def submit_mashup(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_ids: Sequence[str],
    lyrics: str | None = None,
    description: str | None = None,
    instrumental: bool = False,
    tags: str = "",
    title: str = "",
    model: str | None = None,
    request: Mapping[str, Any] | None = None,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    relay_route: str | None = None,
) -> Task:
    """Two clips: new songs from two of the key's clips, in the first's key, halfway
    between their tempi, their lyrics merged (unless ``lyrics`` are given). Two clips a
    channel made (``relay_route``) are mashed up by it."""
    ids = [c.strip() for c in clip_ids if c and c.strip()]
    if len(ids) != 2:
        raise InvalidInput("mashup_audio_ids must be a list of 2 audio ids")
    if ids[0] == ids[1]:
        raise InvalidInput("mashup_audio_ids must name two different audio ids")
    lyrics = None if instrumental else _text(lyrics, "lyric")
    description = _text(description, "prompt")
    if description is not None and len(description) > 500:
        raise InvalidInput("Topic too long.")
    relayed = relay_route is not None
    first, second = (edited_clip(uow, key, c, relay_route) for c in ids)
    source = (
        {"source_clip_id": first.id}
        if relayed
        else {**_common(first, _scored(first)), "second_score_key": _scored(second)}
    )
    model_name, major = _model(model, first)
    name = title.strip()[:MAX_TITLE]
    params = {
        **source,
        "mashup_clip_ids": ids,
        "lyrics": lyrics,
        "description": description,
        "instrumental": bool(instrumental),
        "tags": tags.strip(),
        "title": name,
        "model_name": model_name,
        "major_model_version": major,
        "max_duration_s": _max_duration(model_name),
    }
    fields = {
        "title": name,
        "tags": tags.strip(),
        "negative_tags": "",
        "prompt": lyrics or "",
        "lyrics": lyrics or "",
        "gpt_description_prompt": description or "",
        "model_name": model_name,
        "major_model_version": major,
    }
    return _submit(
        uow,
        queue,
        key,
        Action.MASHUP,
        first,
        params,
        fields,
        MASHUP_CLIPS,
        request=request if request is not None else params | {"seed": None},
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
        route=relay_route,
    )


def submit_inspo(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    reference_keys: Sequence[str],
    lyrics: str | None = None,
    description: str | None = None,
    instrumental: bool = False,
    tags: str = "",
    title: str = "",
    model: str | None = None,
    vocal_gender: str | None = None,
    audio_weight: float | None = None,
    max_reference_s: float = 480.0,
    request: Mapping[str, Any] | None = None,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """Two clips: new songs in the style of 1 to 4 reference recordings already fetched
    into storage (``reference_keys``), as close to them as ``audio_weight`` asks."""
    if not 1 <= len(reference_keys) <= MAX_REFERENCES:
        raise InvalidInput("audio_urls must be a list of 1 to 4 audio URLs")
    if audio_weight is not None and not 0.0 <= audio_weight <= 1.0:
        raise InvalidInput("audio_weight must be a number between 0 and 1")
    lyrics = None if instrumental else _text(lyrics, "lyric")
    description = _text(description, "prompt")
    if description is not None and len(description) > 500:
        raise InvalidInput("Topic too long.")
    spec = resolve_model(model or "chirp-v4")
    model_name = model if model and model.startswith("chirp-") else spec.name
    params = {
        "reference_keys": list(reference_keys),
        # Fetched for this task alone: deleted when it ends (``tasks.input_folders``).
        tasks.INPUT_FOLDERS: sorted(
            {k.rsplit("/", 1)[0] + "/" for k in reference_keys if "/" in k}
        ),
        "max_reference_s": max_reference_s,
        "audio_weight": audio_weight,
        "lyrics": lyrics,
        "description": description,
        "instrumental": bool(instrumental),
        "tags": tags.strip(),
        "title": title.strip()[:MAX_TITLE],
        "model_name": model_name,
        "major_model_version": spec.major_version,
        "max_duration_s": spec.max_duration_s,
        "vocal_gender": vocal_gender,
        "seed": secrets.randbelow(2**31),
    }
    fields = {
        "title": params["title"],
        "tags": tags.strip(),
        "negative_tags": "",
        "prompt": lyrics or "",
        "lyrics": lyrics or "",
        "gpt_description_prompt": description or "",
        "model_name": model_name,
        "major_model_version": spec.major_version,
    }
    return tasks.submit(
        uow,
        queue,
        key,
        Action.INSPO.value,
        params,
        clip_count=INSPO_CLIPS,
        clip_fields=fields,
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        request={"action": Action.INSPO.value, **dict(request or params)},
        origin=origin,
        callback=callback,
    )
