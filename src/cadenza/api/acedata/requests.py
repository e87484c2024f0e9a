"""AceData bodies turned into dialect-free requests, with the seed's own error messages.

Each ``parse_*`` takes the decoded JSON body (or query parameters), validates it and
returns a frozen dataclass named in the domain's words, so the command layer never sees
AceData's field names. Every refusal is an ``InvalidInput`` whose message is the one the
seed's error table gives (``prompt is required when generate audio``), so the dialect's
error mapping answers it as ``400 bad_request`` unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from cadenza.api.acedata.schemas import (
    AceDataBody,
    AsyncFields,
    AudiosBody,
    ClipToolBody,
    LyricsBody,
    MashupLyricsBody,
    PersonaBody,
    PersonaDeleteQuery,
    PersonaListQuery,
    StyleBody,
    TasksBody,
    UploadBody,
    VoicesBody,
    VoxBody,
    validation_message,
)
from cadenza.domain.errors import InvalidInput
from cadenza.domain.models import DESCRIPTION_PROMPT_LIMIT, ModelSpec, resolve_model

# -- actions and models -----------------------------------------------------------------


class AudioAction(enum.StrEnum):
    GENERATE = "generate"
    EXTEND = "extend"
    UPLOAD_EXTEND = "upload_extend"
    COVER = "cover"
    UPLOAD_COVER = "upload_cover"
    REPLACE_SECTION = "replace_section"
    CONCAT = "concat"
    STEMS = "stems"
    ALL_STEMS = "all_stems"
    REMASTER = "remaster"
    ARTIST_CONSISTENCY = "artist_consistency"
    ARTIST_CONSISTENCY_VOX = "artist_consistency_vox"
    UNDERPAINTING = "underpainting"
    OVERPAINTING = "overpainting"
    MASHUP = "mashup"
    SAMPLES = "samples"
    INSPO = "inspo"


#: The models AceData documents (contract §2.2); internal names such as chirp-auk pass too.
MODEL_NAMES: tuple[str, ...] = (
    "chirp-v5-5",
    "chirp-v5",
    "chirp-v4-5-plus",
    "chirp-v4-5",
    "chirp-v4",
    "chirp-v3-5",
    "chirp-v3-0",
    "chirp-v3",
)
#: The OAS default (the seed's prose says chirp-v3-5; every official client sends a model).
DEFAULT_MODEL = "chirp-v4"
#: Remaster exists from v4.5+ on (seed); its example sends no model.
REMASTER_MODELS: tuple[str, ...] = ("chirp-v4-5-plus", "chirp-v5", "chirp-v5-5")
REMASTER_DEFAULT_MODEL = "chirp-v5"
#: ``variation_category`` exists from v5 on (seed).
VARIATION_MODELS: tuple[str, ...] = ("chirp-v5", "chirp-v5-5")
VARIATION_CATEGORIES: tuple[str, ...] = ("high", "normal", "subtle")
#: ``duration`` is only for custom generate on chirp-v5-5 (beyond the seed).
DURATION_RANGE_S = (10, 360)
#: Lyrics models: the OAS enum, plus any chirp-* (MCP-old sends chirp-v3).
LYRICS_MODELS: tuple[str, ...] = ("default", "remi-v1")


def model_spec(name: str) -> ModelSpec:
    """The catalogue entry of an AceData model name; ``model is invalid.`` otherwise."""
    if not name.startswith("chirp-"):
        raise InvalidInput("model is invalid.")
    try:
        return resolve_model(name)
    except InvalidInput:
        raise InvalidInput("model is invalid.") from None


def title_limit(spec: ModelSpec) -> int:
    """80 characters up to v4, 100 from v4.5 on (contract §2.2)."""
    return 80 if spec.style_limit <= 200 else 100


# -- the normalized requests ------------------------------------------------------------


class ReplyMode(enum.StrEnum):
    """How the answer is delivered; ``Accept: application/x-ndjson`` (``wants_ndjson``)
    streams a sync request instead of holding it."""

    SYNC = "sync"
    ASYNC = "async"
    CALLBACK = "callback"


@dataclass(frozen=True)
class Delivery:
    """``async: true`` answers the task id at once; ``callback_url`` also pushes the result
    there when done (with or without ``async``)."""

    mode: ReplyMode = ReplyMode.SYNC
    callback_url: str | None = None

    @property
    def waits(self) -> bool:
        return self.mode is ReplyMode.SYNC


@dataclass(frozen=True)
class Span:
    """A time range of a clip in seconds; ``end`` None means to the end."""

    start: float = 0.0
    end: float | None = None


@dataclass(frozen=True)
class AudiosRequest:
    """``POST /suno/audios`` in the domain's words. Fields an action does not use keep
    their defaults; which ones each action reads:

    - generate: ``description`` (inspiration mode) or ``lyrics``/``lyrics_prompt`` (custom),
      ``title``, ``tags``, ``negative_tags``, ``instrumental``, ``vocal_gender``,
      ``weirdness``, ``style_influence``, ``audio_weight``, ``variation``, ``duration_s``
    - extend / upload_extend: ``clip_id``, ``continue_at`` + the generate fields
    - cover / upload_cover: ``clip_id`` + the generate fields
    - artist_consistency(_vox): ``persona_id``, optional ``clip_id`` + the generate fields
    - concat, stems, all_stems: ``clip_id``; remaster: ``clip_id``, ``variation``
    - replace_section: ``clip_id``, ``section``, ``lyrics`` (the whole new text) and
      ``description`` (the lines sung in the window); overpainting: ``clip_id``,
      ``section``, ``lyrics``, ``tags``; underpainting: ``clip_id``, ``section``, ``tags``
    - samples: ``clip_id``, ``section`` + the generate fields
    - mashup: ``mashup_clip_ids`` + the generate fields; inspo: ``reference_urls``,
      ``audio_weight`` + the generate fields
    """

    action: AudioAction
    #: The model name as the client sent it (lowercased), or the default.
    model: str
    #: The catalogue's public name for it (chirp-v3 -> chirp-v3-0).
    model_name: str
    delivery: Delivery = Delivery()
    custom: bool = False
    instrumental: bool = False
    #: Inspiration-mode song description (for replace_section: the lyric part replaced).
    description: str | None = None
    lyrics: str | None = None
    #: What to write lyrics about, in custom mode without lyrics.
    lyrics_prompt: str | None = None
    title: str = ""
    tags: str = ""
    negative_tags: str = ""
    vocal_gender: str | None = None  # "female" | "male"
    weirdness: float | None = None
    style_influence: float | None = None
    audio_weight: float | None = None
    variation: str | None = None  # "high" | "normal" | "subtle"
    duration_s: int | None = None
    clip_id: str | None = None
    continue_at: float | None = None
    persona_id: str | None = None
    section: Span | None = None
    mashup_clip_ids: tuple[str, ...] = ()
    reference_urls: tuple[str, ...] = ()

    @property
    def vox(self) -> bool:
        """artist_consistency_vox: the persona must come from a vocal stem."""
        return self.action is AudioAction.ARTIST_CONSISTENCY_VOX


@dataclass(frozen=True)
class LyricsRequest:
    """``POST /suno/lyrics``: what to write lyrics about."""

    prompt: str
    model: str


@dataclass(frozen=True)
class PersonaCreateRequest:
    """``POST /suno/persona``; ``vox_clip_id`` (from /suno/vox) makes a Persona-v2-vox."""

    name: str
    clip_id: str
    description: str = ""
    vox_clip_id: str | None = None
    vocal: Span | None = None


@dataclass(frozen=True)
class PersonaListRequest:
    user_id: str | None
    limit: int
    offset: int


@dataclass(frozen=True)
class PersonaDeleteRequest:
    persona_id: str
    user_id: str | None = None


@dataclass(frozen=True)
class VoxRequest:
    """``POST /suno/vox``: the vocal stem of a clip, between ``vocal`` seconds."""

    clip_id: str
    vocal: Span | None = None
    delivery: Delivery = Delivery()


@dataclass(frozen=True)
class VoiceRequest:
    """``POST /suno/voices``: a persona from a recording of one voice."""

    audio_url: str
    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class UploadRequest:
    """``POST /suno/upload``: a public audio URL becomes a clip id."""

    audio_url: str
    delivery: Delivery = Delivery()


class ClipTool(enum.StrEnum):
    MP4 = "mp4"
    TIMING = "timing"
    WAV = "wav"
    MIDI = "midi"


@dataclass(frozen=True)
class ClipToolRequest:
    """``POST /suno/mp4|timing|wav|midi``: one clip in, one file or data out."""

    tool: ClipTool
    clip_id: str
    delivery: Delivery = Delivery()


@dataclass(frozen=True)
class StyleRequest:
    """``POST /suno/style``: a short style to expand into richer tags."""

    prompt: str


@dataclass(frozen=True)
class MashupLyricsRequest:
    lyrics_a: str
    lyrics_b: str


@dataclass(frozen=True)
class TaskRetrieveRequest:
    task_id: str


#: Most records one retrieve_batch answers.
MAX_BATCH = 100
DEFAULT_BATCH_LIMIT = 20
#: Past this a page is empty anyway; the database's integers stop at 2**63.
MAX_OFFSET = 1_000_000_000
#: 9999-12-31T23:59:59Z, the last moment a date holds.
MAX_EPOCH_S = 253_402_300_799


@dataclass(frozen=True)
class TaskBatchRequest:
    """``retrieve_batch``: ``task_ids`` and/or filters. ``user_id``/``application_id`` are
    AceData account ids, meaningless here (a key sees its own tasks); kept for the log."""

    task_ids: tuple[str, ...] = ()
    kind: str | None = None  # "audios" | "lyrics" | ...
    limit: int = DEFAULT_BATCH_LIMIT
    offset: int = 0
    created_after: float | None = None
    created_before: float | None = None
    user_id: str | None = None
    application_id: str | None = None


TaskRequest = TaskRetrieveRequest | TaskBatchRequest


def wants_ndjson(accept: str | None) -> bool:
    """``Accept: application/x-ndjson`` asks for one snapshot per line (seed)."""
    return accept is not None and "application/x-ndjson" in accept.lower()


# -- parsing helpers --------------------------------------------------------------------

BodyT = TypeVar("BodyT", bound=AceDataBody)


def read_body(model: type[BodyT], raw: Any) -> BodyT:
    """Validate ``raw`` (decoded JSON) against ``model``; errors in the seed's words."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("The request body must be a JSON object.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc.errors())) from None


def _text(value: str | None) -> str | None:
    """Trimmed text; empty counts as absent."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _required(value: str | None, message: str) -> str:
    text = _text(value)
    if text is None:
        raise InvalidInput(message)
    return text


def _unit(value: float | None, name: str) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{name} must be a number between 0 and 1")
    return value


def _delivery(body: AsyncFields) -> Delivery:
    callback = _text(body.callback_url)
    if callback is not None and not callback.lower().startswith(("http://", "https://")):
        raise InvalidInput("callback_url must be an http or https URL")
    if body.async_:
        return Delivery(ReplyMode.ASYNC, callback)
    if callback is not None:
        return Delivery(ReplyMode.CALLBACK, callback)
    return Delivery()


def _span(start: float | None, end: float | None, name: str) -> Span:
    begin = 0.0 if start is None else start
    if begin < 0:
        raise InvalidInput(f"{name}_start must be a number greater than or equal to 0")
    if end is not None and end <= begin:
        raise InvalidInput(f"{name}_end must be greater than {name}_start")
    return Span(begin, end)


def _lyric_prompt(value: Any) -> str | None:
    """MCP sends ``{"prompt": ...}``, the CLI a string."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("prompt")
        if value is None:
            return None
    if not isinstance(value, str):
        raise InvalidInput("lyric_prompt must be a string or an object with a prompt")
    return _text(value)


def _gender(value: str | None) -> str | None:
    text = _text(value)
    if text is None:
        return None
    gender = {"f": "female", "female": "female", "m": "male", "male": "male"}.get(text.lower())
    if gender is None:
        raise InvalidInput("vocal_gender must be f or m")
    return gender


def _string_list(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{name} must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


# -- /suno/audios -----------------------------------------------------------------------

_AUDIO_ID_VERB = {
    AudioAction.EXTEND: "extend",
    AudioAction.UPLOAD_EXTEND: "extend",
    AudioAction.COVER: "cover",
    AudioAction.UPLOAD_COVER: "cover",
}

_EXTENDS = frozenset({AudioAction.EXTEND, AudioAction.UPLOAD_EXTEND})
_NEEDS_CLIP = frozenset(
    {
        AudioAction.EXTEND,
        AudioAction.UPLOAD_EXTEND,
        AudioAction.COVER,
        AudioAction.UPLOAD_COVER,
        AudioAction.CONCAT,
        AudioAction.STEMS,
        AudioAction.ALL_STEMS,
        AudioAction.REMASTER,
        AudioAction.REPLACE_SECTION,
        AudioAction.UNDERPAINTING,
        AudioAction.OVERPAINTING,
        AudioAction.SAMPLES,
    }
)
_SECTION_FIELD = {
    AudioAction.REPLACE_SECTION: "replace_section",
    AudioAction.OVERPAINTING: "overpainting",
    AudioAction.UNDERPAINTING: "underpainting",
    AudioAction.SAMPLES: "samples",
}


def _action(value: str | None) -> AudioAction:
    text = _text(value)
    if text is None:
        return AudioAction.GENERATE
    try:
        return AudioAction(text.lower())
    except ValueError:
        raise InvalidInput("action is invalid.") from None


def _model(value: str | None, action: AudioAction) -> tuple[str, ModelSpec]:
    text = _text(value)
    if text is None:
        name = REMASTER_DEFAULT_MODEL if action is AudioAction.REMASTER else DEFAULT_MODEL
    else:
        name = text.lower()
    spec = model_spec(name)
    if action is AudioAction.REMASTER and spec.name not in REMASTER_MODELS:
        raise InvalidInput(
            "model must be chirp-v4-5-plus, chirp-v5 or chirp-v5-5 when remaster audio"
        )
    return name, spec


def parse_audios(raw: Any) -> AudiosRequest:
    """Validate a ``POST /suno/audios`` body (contract §2.2, §2.3, seed error table)."""
    return normalize_audios(read_body(AudiosBody, raw))


def normalize_audios(body: AudiosBody) -> AudiosRequest:
    action = _action(body.action)
    model, spec = _model(body.model, action)
    description = _text(body.prompt)
    lyrics = _text(body.lyric if body.lyric is not None else body.lyrics)
    lyrics_prompt = _lyric_prompt(body.lyric_prompt)
    instrumental = bool(body.instrumental)
    # A body with lyrics and no ``custom`` is custom mode (older clients omit the flag).
    custom = body.custom if body.custom is not None else lyrics is not None
    title = _text(body.title) or ""
    tags = _text(body.style) or ""
    negative = _text(body.negative_tags if body.negative_tags is not None else body.style_negative)
    variation = _text(body.variation_category)
    duration = body.duration

    # The seed's limits, per model.
    if lyrics is not None and len(lyrics) > spec.prompt_limit:
        raise InvalidInput("Prompt too long.")
    if description is not None and len(description) > DESCRIPTION_PROMPT_LIMIT:
        raise InvalidInput("Topic too long.")
    if lyrics_prompt is not None and len(lyrics_prompt) > DESCRIPTION_PROMPT_LIMIT:
        raise InvalidInput("Topic too long.")
    if len(tags) > spec.style_limit:
        raise InvalidInput("Tags too long.")
    if negative is not None and len(negative) > spec.style_limit:
        raise InvalidInput("Negative tags too long.")
    if len(title) > title_limit(spec):
        raise InvalidInput("Title too long.")

    if variation is not None:
        variation = variation.lower()
        if variation not in VARIATION_CATEGORIES:
            raise InvalidInput("variation_category must be one of high, normal, subtle")
        if spec.name not in VARIATION_MODELS:
            raise InvalidInput("variation_category is only supported by chirp-v5 and later")
    duration_s: int | None = None
    if duration is not None:
        low, high = DURATION_RANGE_S
        if duration != int(duration) or not low <= duration <= high:
            raise InvalidInput(f"duration must be an integer between {low} and {high}")
        if not (action is AudioAction.GENERATE and custom and spec.name == "chirp-v5-5"):
            raise InvalidInput(
                "duration is only supported when generate custom audio with chirp-v5-5"
            )
        duration_s = int(duration)

    section: Span | None = None
    if action in _SECTION_FIELD:
        name = _SECTION_FIELD[action]
        section = _span(getattr(body, f"{name}_start"), getattr(body, f"{name}_end"), name)

    request = AudiosRequest(
        action=action,
        model=model,
        model_name=spec.name,
        delivery=_delivery(body),
        custom=custom,
        instrumental=instrumental,
        description=description,
        lyrics=lyrics,
        lyrics_prompt=lyrics_prompt,
        title=title,
        tags=tags,
        negative_tags=negative or "",
        vocal_gender=_gender(body.vocal_gender),
        weirdness=_unit(body.weirdness, "weirdness"),
        style_influence=_unit(body.style_influence, "style_influence"),
        audio_weight=_unit(body.audio_weight, "audio_weight"),
        variation=variation,
        duration_s=duration_s,
        clip_id=_text(body.audio_id),
        continue_at=body.continue_at,
        persona_id=_text(body.persona_id),
        section=section,
        mashup_clip_ids=tuple(body.mashup_audio_ids or ()),
        reference_urls=(
            _string_list(body.audio_urls, "audio_urls") if action is AudioAction.INSPO else ()
        ),
    )
    check_audios_rules(request)
    return request


def check_audios_rules(req: AudiosRequest) -> None:
    """What each action needs (contract §2.3), in the seed's words where it has them."""
    action = req.action
    if action in _NEEDS_CLIP and req.clip_id is None:
        verb = _AUDIO_ID_VERB.get(action, action.value)
        raise InvalidInput(f"audio_id is required when {verb} audio")
    if action in _EXTENDS:
        if req.continue_at is None:
            raise InvalidInput("continue_at is required when extend audio")
        if req.continue_at <= 0:
            raise InvalidInput("continue_at must be a number greater than 0")
        if not req.instrumental and req.lyrics is None and req.lyrics_prompt is None:
            raise InvalidInput("lyric is required when extend audio and instrumental is false")
    elif req.continue_at is not None and req.continue_at <= 0:
        raise InvalidInput("continue_at must be a number greater than 0")
    if (
        action in (AudioAction.ARTIST_CONSISTENCY, AudioAction.ARTIST_CONSISTENCY_VOX)
        and req.persona_id is None
    ):
        raise InvalidInput(f"persona_id is required when {action.value} audio")
    if action in (
        AudioAction.GENERATE,
        AudioAction.ARTIST_CONSISTENCY,
        AudioAction.ARTIST_CONSISTENCY_VOX,
    ):
        if req.custom:
            if req.lyrics is None and not req.instrumental and req.lyrics_prompt is None:
                raise InvalidInput("lyric is required when generate custom audio")
        elif req.description is None:
            raise InvalidInput("prompt is required when generate audio")
    if action is AudioAction.REPLACE_SECTION and (req.section is None or req.section.end is None):
        raise InvalidInput("replace_section_end is required when replace_section audio")
    if action is AudioAction.REPLACE_SECTION and req.lyrics is None and req.description is None:
        raise InvalidInput("lyric is required when replace_section audio")
    if action is AudioAction.OVERPAINTING and req.lyrics is None:
        raise InvalidInput("lyric is required when overpainting audio")
    if action is AudioAction.MASHUP and len(req.mashup_clip_ids) != 2:
        raise InvalidInput("mashup_audio_ids must be a list of 2 audio ids")
    if action is AudioAction.INSPO and not 1 <= len(req.reference_urls) <= 4:
        raise InvalidInput("audio_urls must be a list of 1 to 4 audio URLs")


# -- the other endpoints ----------------------------------------------------------------


def parse_lyrics(raw: Any) -> LyricsRequest:
    """``prompt`` and ``model`` (default, remi-v1 or any chirp-* model)."""
    body = read_body(LyricsBody, raw)
    prompt = _required(body.prompt, "prompt is required.")
    if len(prompt) > 3000:
        raise InvalidInput("Prompt too long.")
    model = (_text(body.model) or "default").lower()
    if model not in LYRICS_MODELS:
        model_spec(model)
    return LyricsRequest(prompt=prompt, model=model)


def _vocal(start: float | None, end: float | None) -> Span | None:
    if start is None and end is None:
        return None
    begin = 0.0 if start is None else start
    if begin < 0:
        raise InvalidInput("vocal_start must be a number greater than or equal to 0")
    if end is not None and end <= begin:
        raise InvalidInput("vocal_end must be greater than vocal_start")
    return Span(begin, end)


def parse_persona(raw: Any) -> PersonaCreateRequest:
    body = read_body(PersonaBody, raw)
    name = _required(body.name, "name is required.")
    clip_id = _required(body.audio_id, "audio_id is required.")
    if len(name) > 200:
        raise InvalidInput("name must be at most 200 characters")
    description = _text(body.description) or ""
    if len(description) > 2000:
        raise InvalidInput("description must be at most 2000 characters")
    return PersonaCreateRequest(
        name=name,
        clip_id=clip_id,
        description=description,
        vox_clip_id=_text(body.vox_audio_id),
        vocal=_vocal(body.vocal_start, body.vocal_end),
    )


def _query_int(value: str | int | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer") from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
    return number


def parse_persona_list(query: Mapping[str, Any]) -> PersonaListRequest:
    """Query parameters of ``GET /suno/persona``; ``user_id`` is AceData's account id
    (a key sees its own personas here), so it is optional."""
    body = read_body(PersonaListQuery, query)
    return PersonaListRequest(
        user_id=_text(body.user_id),
        limit=_query_int(body.limit, "limit", 50, 1, 500),
        offset=_query_int(body.offset, "offset", 0, 0, 10**9),
    )


def parse_persona_delete(query: Mapping[str, Any]) -> PersonaDeleteRequest:
    body = read_body(PersonaDeleteQuery, query)
    return PersonaDeleteRequest(
        persona_id=_required(body.persona_id, "persona_id is required."),
        user_id=_text(body.user_id),
    )


def parse_vox(raw: Any) -> VoxRequest:
    body = read_body(VoxBody, raw)
    return VoxRequest(
        clip_id=_required(body.audio_id, "audio_id is required."),
        vocal=_vocal(body.vocal_start, body.vocal_end),
        delivery=_delivery(body),
    )


def _audio_url(value: str | None) -> str:
    url = _required(value, "audio_url is required.")
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidInput("audio_url must be an http or https URL")
    return url


def parse_voice(raw: Any) -> VoiceRequest:
    body = read_body(VoicesBody, raw)
    return VoiceRequest(
        audio_url=_audio_url(body.audio_url),
        name=_text(body.name) or "",
        description=_text(body.description) or "",
    )


def parse_upload(raw: Any) -> UploadRequest:
    body = read_body(UploadBody, raw)
    return UploadRequest(audio_url=_audio_url(body.audio_url), delivery=_delivery(body))


def parse_clip_tool(tool: ClipTool | str, raw: Any) -> ClipToolRequest:
    """``/suno/mp4``, ``/suno/timing``, ``/suno/wav``, ``/suno/midi``: ``audio_id``."""
    body = read_body(ClipToolBody, raw)
    return ClipToolRequest(
        tool=ClipTool(tool),
        clip_id=_required(body.audio_id, "audio_id is required."),
        delivery=_delivery(body),
    )


def parse_style(raw: Any) -> StyleRequest:
    body = read_body(StyleBody, raw)
    prompt = _required(body.prompt, "prompt is required.")
    if len(prompt) > 1000:
        raise InvalidInput("Prompt too long.")
    return StyleRequest(prompt=prompt)


def parse_mashup_lyrics(raw: Any) -> MashupLyricsRequest:
    body = read_body(MashupLyricsBody, raw)
    return MashupLyricsRequest(
        lyrics_a=_required(body.lyrics_a, "lyrics_a is required."),
        lyrics_b=_required(body.lyrics_b, "lyrics_b is required."),
    )


def _epoch(value: float | None, name: str) -> float | None:
    """A time filter in epoch seconds, within what a date can hold (years 1970 to 9999)."""
    if value is not None and not 0 <= value <= MAX_EPOCH_S:
        raise InvalidInput(f"{name} must be epoch seconds between 0 and {MAX_EPOCH_S}")
    return value


def parse_tasks(raw: Any) -> TaskRequest:
    """``{"id", "action": "retrieve"}`` (the default) or ``{"ids", "action":
    "retrieve_batch"}`` with the Web client's filters."""
    body = read_body(TasksBody, raw)
    action = (_text(body.action) or "retrieve").lower()
    if action == "retrieve":
        task_id = _text(body.id) or _text(body.task_id)
        if task_id is None:
            raise InvalidInput("id is required.")
        return TaskRetrieveRequest(task_id=task_id)
    if action != "retrieve_batch":
        raise InvalidInput("action is invalid.")
    ids = tuple(dict.fromkeys(i.strip() for i in body.ids or () if i.strip()))
    if len(ids) > MAX_BATCH:
        raise InvalidInput(f"ids must hold at most {MAX_BATCH} ids")
    limit = body.limit if body.limit is not None else max(len(ids), DEFAULT_BATCH_LIMIT)
    if not 1 <= limit <= MAX_BATCH:
        raise InvalidInput(f"limit must be between 1 and {MAX_BATCH}")
    offset = body.offset or 0
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")
    return TaskBatchRequest(
        task_ids=ids,
        kind=_text(body.type),
        limit=limit,
        offset=offset,
        created_after=_epoch(body.created_at_min, "created_at_min"),
        created_before=_epoch(body.created_at_max, "created_at_max"),
        user_id=_text(body.user_id),
        application_id=_text(body.application_id),
    )
