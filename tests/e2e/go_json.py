"""Go's ``encoding/json`` decoding rules, to read answers the way a Go client does.

A Go struct field of the wrong JSON type fails the whole ``json.Unmarshal``: a number
where a string is declared, a float where an int64 is declared, an object where a slice
is. ``null`` leaves the zero value, unknown fields are ignored, and field names match
case-insensitively. ``decode`` raises ``GoDecodeError`` exactly where Go would fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class GoDecodeError(Exception):
    pass


@dataclass(frozen=True)
class Struct:
    name: str
    fields: dict[str, Any]  # json tag -> Go type


@dataclass(frozen=True)
class Slice:
    item: Any


STRING, INT64, FLOAT64, BOOL, RAW, ANY = "string", "int64", "float64", "bool", "raw", "any"

_INT64 = (-(2**63), 2**63 - 1)


def decode(value: Any, go_type: Any, where: str = "$") -> Any:
    """The value as Go would hold it after ``json.Unmarshal``; raises like Go does."""
    if go_type in (RAW, ANY):
        return value
    if value is None:
        return _zero(go_type)
    if go_type == STRING:
        if not isinstance(value, str):
            raise GoDecodeError(f"{where}: cannot unmarshal {_kind(value)} into string")
        return value
    if go_type == INT64:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GoDecodeError(f"{where}: cannot unmarshal {_kind(value)} into int64")
        if not _INT64[0] <= value <= _INT64[1]:
            raise GoDecodeError(f"{where}: number {value} overflows int64")
        return value
    if go_type == FLOAT64:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GoDecodeError(f"{where}: cannot unmarshal {_kind(value)} into float64")
        return float(value)
    if go_type == BOOL:
        if not isinstance(value, bool):
            raise GoDecodeError(f"{where}: cannot unmarshal {_kind(value)} into bool")
        return value
    if isinstance(go_type, Slice):
        if not isinstance(value, list):
            raise GoDecodeError(f"{where}: cannot unmarshal {_kind(value)} into slice")
        return [decode(item, go_type.item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(go_type, Struct):
        if not isinstance(value, dict):
            raise GoDecodeError(f"{where}: cannot unmarshal {_kind(value)} into {go_type.name}")
        out = {tag: _zero(kind) for tag, kind in go_type.fields.items()}
        by_folded = {tag.lower(): tag for tag in go_type.fields}
        for name, item in value.items():
            tag = name if name in go_type.fields else by_folded.get(name.lower())
            if tag is not None:
                out[tag] = decode(item, go_type.fields[tag], f"{where}.{name}")
        return out
    raise TypeError(f"unknown Go type {go_type!r}")


def _zero(go_type: Any) -> Any:
    if go_type == STRING:
        return ""
    if go_type in (INT64,):
        return 0
    if go_type == FLOAT64:
        return 0.0
    if go_type == BOOL:
        return False
    if isinstance(go_type, Struct):
        return {tag: _zero(kind) for tag, kind in go_type.fields.items()}
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def task_response(data: Any) -> Struct:
    """new-api's ``dto.TaskResponse[T]``."""
    return Struct("TaskResponse", {"code": STRING, "message": STRING, "data": data})


#: new-api's ``dto.SunoDataResponse``: one item of a batch poll.
SUNO_DATA_RESPONSE = Struct(
    "SunoDataResponse",
    {
        "task_id": STRING,
        "action": STRING,
        "status": STRING,
        "fail_reason": STRING,
        "url": STRING,
        "submit_time": INT64,
        "start_time": INT64,
        "finish_time": INT64,
        "data": RAW,
    },
)

#: new-api's ``dto.TaskDto`` (what ``GET /suno/fetch/{id}`` is read as).
TASK_DTO = Struct(
    "TaskDto",
    {
        "task_id": STRING,
        "action": STRING,
        "status": STRING,
        "fail_reason": STRING,
        "submit_time": INT64,
        "start_time": INT64,
        "finish_time": INT64,
        "progress": STRING,
        "data": RAW,
    },
)

#: Suno-API's ``po.SunoSong`` (with its ``SunoMetadata``): how Go clients read a clip.
SUNO_SONG = Struct(
    "SunoSong",
    {
        "id": STRING,
        "video_url": STRING,
        "audio_url": STRING,
        "image_url": STRING,
        "image_large_url": STRING,
        "is_video_pending": BOOL,
        "major_model_version": STRING,
        "model_name": STRING,
        "is_liked": BOOL,
        "user_id": STRING,
        "display_name": STRING,
        "handle": STRING,
        "is_handle_updated": BOOL,
        "is_trashed": BOOL,
        "reaction": ANY,
        "created_at": STRING,
        "status": STRING,
        "title": STRING,
        "play_count": INT64,
        "upvote_count": INT64,
        "is_public": BOOL,
        "metadata": Struct(
            "SunoMetadata",
            {
                "tags": STRING,
                "prompt": STRING,
                "gpt_description_prompt": ANY,
                "audio_prompt_id": ANY,
                "history": ANY,
                "concat_history": ANY,
                "type": STRING,
                "duration": ANY,
                "refund_credits": ANY,
                "stream": BOOL,
                "error_type": ANY,
                "error_message": ANY,
            },
        ),
    },
)

#: ``po.SunoLyrics`` / new-api's ``dto.SunoLyrics``: a lyrics task's data.
SUNO_LYRICS = Struct(
    "SunoLyrics", {"id": STRING, "status": STRING, "title": STRING, "text": STRING}
)


def marshal_submit(**fields: Any) -> dict[str, Any]:
    """new-api's ``dto.SunoSubmitReq`` as ``json.Marshal`` writes it: ``omitempty`` fields
    drop their zero value, the others are always written."""
    omitempty = {
        "gpt_description_prompt": "",
        "prompt": "",
        "mv": "",
        "title": "",
        "tags": "",
        "continue_at": 0.0,
        "task_id": "",
        "continue_clip_id": "",
        "model": "",
    }
    always = {
        "make_instrumental": False,
        "instrumental": False,
        "callBackUrl": "",
        "customMode": False,
    }
    unknown = set(fields) - set(omitempty) - set(always)
    if unknown:
        raise TypeError(f"SunoSubmitReq has no fields {sorted(unknown)}")
    body: dict[str, Any] = {}
    for name, zero in omitempty.items():
        value = fields.get(name, zero)
        if value != zero:
            body[name] = value
    for name, zero in always.items():
        body[name] = fields.get(name, zero)
    return body
