"""Request bodies of the AceData dialect (seed 002), as its clients send them.

Every field is optional here: ``null`` means absent, unknown fields are ignored, and which
fields an action needs is decided in ``requests``, where the seed's messages are written.
Types are strict (``"true"`` is not a boolean, ``"12"`` not a number) because the seed
answers ``instrumental must be a boolean``; fields some clients send whatever the action
(``audio_urls``, ``lyric_prompt``) are read loosely and checked only where they matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, Field, Strict, StrictBool, StrictStr
from pydantic_core import ErrorDetails

from cadenza.api.bodies import RequestBody

#: A JSON number (an integer or a float, never a boolean or a numeric string).
Number = Annotated[float, Strict()]


class AceDataBody(RequestBody):
    """``null`` is absent and unknown fields are ignored; numbers finite, text valid."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, populate_by_name=True)


class AsyncFields(AceDataBody):
    """Poll mode (``async: true``) and callback mode (``callback_url``)."""

    async_: StrictBool | None = Field(default=None, alias="async")
    callback_url: StrictStr | None = None


class AudiosBody(AsyncFields):
    """``POST /suno/audios`` (contract §2.2)."""

    action: StrictStr | None = None
    model: StrictStr | None = None
    prompt: StrictStr | None = None
    custom: StrictBool | None = None
    instrumental: StrictBool | None = None
    lyric: StrictStr | None = None
    #: Not AceData's name; read when ``lyric`` is absent.
    lyrics: StrictStr | None = None
    title: StrictStr | None = None
    style: StrictStr | None = None
    negative_tags: StrictStr | None = None
    #: The seed's name for ``negative_tags``.
    style_negative: StrictStr | None = None
    vocal_gender: StrictStr | None = None
    weirdness: Number | None = None
    style_influence: Number | None = None
    audio_weight: Number | None = None
    variation_category: StrictStr | None = None
    #: ``{"prompt": "..."}`` (MCP) or a string (CLI).
    lyric_prompt: Any = None
    duration: Number | None = None
    audio_id: StrictStr | None = None
    continue_at: Number | None = None
    persona_id: StrictStr | None = None
    replace_section_start: Number | None = None
    replace_section_end: Number | None = None
    overpainting_start: Number | None = None
    overpainting_end: Number | None = None
    underpainting_start: Number | None = None
    underpainting_end: Number | None = None
    samples_start: Number | None = None
    samples_end: Number | None = None
    mashup_audio_ids: list[StrictStr] | None = None
    #: inspo references; the SDK sends one with every action, so only inspo checks it.
    audio_urls: Any = None


class LyricsBody(AceDataBody):
    """``POST /suno/lyrics``."""

    prompt: StrictStr | None = None
    model: StrictStr | None = None


class PersonaBody(AceDataBody):
    """``POST /suno/persona``."""

    name: StrictStr | None = None
    audio_id: StrictStr | None = None
    description: StrictStr | None = None
    vox_audio_id: StrictStr | None = None
    vocal_start: Number | None = None
    vocal_end: Number | None = None


class PersonaListQuery(AceDataBody):
    """``GET /suno/persona?user_id=&limit=&offset=`` (query values arrive as text)."""

    user_id: StrictStr | None = None
    limit: StrictStr | int | None = None
    offset: StrictStr | int | None = None


class PersonaDeleteQuery(AceDataBody):
    """``DELETE /suno/persona?persona_id=&user_id=``."""

    persona_id: StrictStr | None = None
    user_id: StrictStr | None = None


class VoxBody(AsyncFields):
    """``POST /suno/vox``: a vocal stem of a clip, for Persona-v2-vox."""

    audio_id: StrictStr | None = None
    vocal_start: Number | None = None
    vocal_end: Number | None = None


class VoicesBody(AceDataBody):
    """``POST /suno/voices``: a persona from an uploaded voice."""

    audio_url: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None


class UploadBody(AsyncFields):
    """``POST /suno/upload``."""

    audio_url: StrictStr | None = None


class ClipToolBody(AsyncFields):
    """``POST /suno/mp4``, ``/suno/timing``, ``/suno/wav``, ``/suno/midi``."""

    audio_id: StrictStr | None = None


class StyleBody(AceDataBody):
    """``POST /suno/style``."""

    prompt: StrictStr | None = None


class MashupLyricsBody(AceDataBody):
    """``POST /suno/mashup-lyrics``."""

    lyrics_a: StrictStr | None = None
    lyrics_b: StrictStr | None = None


class TasksBody(AceDataBody):
    """``POST /suno/tasks``: ``retrieve`` (default) one id, or ``retrieve_batch``."""

    action: StrictStr | None = None
    id: StrictStr | None = None
    #: Not AceData's name; read when ``id`` is absent.
    task_id: StrictStr | None = None
    ids: list[StrictStr] | None = None
    user_id: StrictStr | None = None
    type: StrictStr | None = None
    application_id: StrictStr | None = None
    limit: int | None = Field(default=None, strict=True)
    offset: int | None = Field(default=None, strict=True)
    created_at_min: Number | None = None
    created_at_max: Number | None = None


# -- validation messages ----------------------------------------------------------------

_BOOL = frozenset({"bool_type", "bool_parsing"})
_TEXT = frozenset({"string_type", "string_unicode", "string_sub_type"})
_NUMBER = frozenset(
    {"float_type", "float_parsing", "int_type", "int_parsing", "int_from_float", "finite_number"}
)
_LIST = frozenset({"list_type", "too_short", "too_long"})
_OBJECT = frozenset({"model_type", "model_attributes_type", "dict_type"})

#: Where the seed has its own words for a wrong type.
_SEED_TYPE_MESSAGES = {"continue_at": "continue_at must be a number greater than 0"}


def _field_name(loc: Sequence[int | str]) -> tuple[str, bool]:
    """The body field an error is about, and whether it is about an item of a list."""
    parts = [p for p in loc if p != "body"]
    name = next((p for p in parts if isinstance(p, str)), "")
    return name, any(isinstance(p, int) for p in parts[1:])


def validation_message(errors: Sequence[ErrorDetails] | Sequence[dict[str, Any]]) -> str:
    """The first error as the seed writes it (``custom must be a boolean``)."""
    if not errors:
        return "The request is invalid."
    err = errors[0]
    kind = str(err.get("type", ""))
    name, in_list = _field_name(tuple(err.get("loc", ())))
    alias = {"async_": "async"}.get(name, name)
    if kind == "json_invalid":
        return "The request body is not valid JSON."
    if not alias:
        if kind in _OBJECT:
            return "The request body must be a JSON object."
        text = str(err.get("msg", "")).removeprefix("Value error, ")
        return text.removeprefix("body.") or "The request is invalid."
    if alias in _SEED_TYPE_MESSAGES and not in_list:
        return _SEED_TYPE_MESSAGES[alias]
    if kind == "missing":
        return f"{alias} is required."
    if kind in _BOOL:
        return f"{alias} must be a boolean"
    if kind in _TEXT:
        return f"{alias} must be a list of strings" if in_list else f"{alias} must be a string"
    if kind in _NUMBER:
        if kind == "finite_number":
            return f"{alias} must be a finite number"
        return f"{alias} must be a list of numbers" if in_list else f"{alias} must be a number"
    if kind in _LIST:
        return f"{alias} must be a list"
    if kind in _OBJECT:
        return f"{alias} must be an object"
    return f"{alias} is invalid."
