"""The answers of the AceData dialect (seed 002) as pydantic models, for the API document.

Routes build their answers as plain dicts (``answers``), in the field order the seed
shows; these models describe the same shapes so that ``/openapi.json`` tells a client the
truth, and are never used to serialise. They forbid unknown fields, so a field added to
an answer and not here fails the tests that check real answers against the document. A
key that an answer leaves out rather than sets to ``null`` is typed ``X | Absent``.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

#: A key left out of the answer (never ``null``): optional in the schema, and not nullable.
Absent = SkipJsonSchema[None]

#: Every error code Cadenza answers in this dialect (contract §1, §5; ``payload_too_large``
#: is the body size cap's, answered before a route reads the body).
ErrorCode = Literal[
    "no_token",
    "invalid_token",
    "used_up",
    "forbidden",
    "bad_request",
    "api_not_implemented",
    "no_api",
    "payload_too_large",
    "too_many_requests",
    "api_error",
    "timeout",
]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AceDataClip(_Shape):
    """A clip (contract §2.4): media URLs are "" until its ``state`` is ``succeeded``."""

    id: str
    title: str
    image_url: str
    image_large_url: str
    lyric: str
    audio_url: str
    video_url: str
    created_at: str = Field(description='ISO 8601 UTC with milliseconds and a "Z", or ""')
    model: str = Field(description="the model that made it, e.g. chirp-v4")
    state: Literal["pending", "running", "succeeded", "error"]
    prompt: str = Field(description="the song description it was made from")
    style: str
    duration: float = Field(ge=0, description="seconds; 0 until known")
    concat_history: list[dict[str, Any]] | Absent = Field(
        default=None, description="the segments a concat joined, oldest first"
    )


class AceDataLyrics(_Shape):
    """Written lyrics (a lyrics task's ``data`` item)."""

    text: str
    title: str
    status: Literal["complete"]
    tags: list[str]


class AceDataErrorInfo(_Shape):
    """What went wrong: a code of the contract's table and a readable message."""

    code: ErrorCode
    message: str = Field(description="readable reason, safe to show")


class AceDataErrorBody(_Shape):
    """Every error of the dialect, with the HTTP status of the contract's table; a task
    that was made before the failure is named by ``task_id``."""

    success: Literal[False]
    error: AceDataErrorInfo
    trace_id: str = Field(description="the request id (X-Request-ID); the log has it")
    task_id: str | Absent = None
    data: list[AceDataClip] | Absent = Field(
        default=None, description="a failed task's clips that can still be played"
    )


DataT = TypeVar("DataT")


class AceDataAnswer(_Shape, Generic[DataT]):
    """A success of an auxiliary endpoint: ``data`` depends on the route
    (``AceDataAnswer[list[AceDataLyrics]]`` for ``/suno/lyrics``)."""

    success: Literal[True]
    task_id: str
    trace_id: str
    data: DataT


class AceDataAudiosAnswer(_Shape):
    """The finished task (blocking mode, and the body POSTed to a ``callback_url``)."""

    success: Literal[True]
    task_id: str
    trace_id: str
    data: list[AceDataClip]


class AceDataAccepted(_Shape):
    """The task was made (``async: true`` or a ``callback_url``): poll ``/suno/tasks``
    with ``task_id``, or wait for the callback; ``data`` is always empty."""

    success: Literal[True]
    task_id: str
    trace_id: str
    data: Annotated[list[Any], Field(max_length=0)]


class AceDataSnapshot(_Shape):
    """One line of the ``application/x-ndjson`` stream: the task as it stands; only the
    last line (the task ended, or the wait ran out) has ``trace_id``, and ``error`` when
    it failed."""

    success: bool
    task_id: str
    trace_id: str | Absent = None
    data: list[AceDataClip] | Absent = None
    error: AceDataErrorInfo | Absent = None


# -- the data of the auxiliary endpoints (contract §4) ---------------------------------


class AceDataStyle(_Shape):
    """``/suno/style``: Docs say ``upsampled_tags``, Web and the CLI read ``text``; both
    hold the expanded style."""

    upsampled_tags: str
    text: str


class AceDataUpload(_Shape):
    """``/suno/upload``: the clip the audio became; ``audio_id`` feeds the upload_*
    actions (only it while the import has made no clip)."""

    audio_id: str
    title: str | Absent = None
    audio_url: str | Absent = None
    image_url: str | Absent = None
    image_large_url: str | Absent = None
    lyric: str | Absent = None
    style: str | Absent = None
    duration: float | Absent = None


class AceDataPersonaMade(_Shape):
    """``/suno/persona`` (``persona_id``) and ``/suno/voices`` (also ``name``,
    ``is_public``)."""

    persona_id: str
    name: str | Absent = None
    is_public: bool | Absent = None


class AceDataWaveform(_Shape):
    waveform_aggregates: list[Any]


class AceDataVox(_Shape):
    """``/suno/vox``: a clip's vocal excerpt; ``id`` is the ``vox_audio_id`` of
    ``/suno/persona``."""

    id: str
    source_clip_id: str
    status: Literal["complete"]
    vocal_audio_url: str
    vocal_start_s: float
    vocal_end_s: float
    wave_response: AceDataWaveform


class AceDataFile(_Shape):
    """``/suno/wav``: one file."""

    file_url: str


class AceDataMidi(_Shape):
    """``/suno/midi``: the notes of each instrument (Web builds the .mid itself)."""

    state: Literal["complete"]
    instruments: list[dict[str, Any]]


class AceDataTiming(_Shape):
    """``/suno/timing``: the words' times and the waveform."""

    aligned_words: list[dict[str, Any]]
    waveform_data: list[float]
    hoot_cer: float
    is_streamed: bool


class AceDataVideo(_Shape):
    """``/suno/mp4``."""

    video_url: str


#: What a tool's task holds instead of clips (``/suno/tasks`` records, callbacks).
ToolData = (
    AceDataLyrics
    | AceDataUpload
    | AceDataPersonaMade
    | AceDataVox
    | list[AceDataFile]
    | list[AceDataMidi]
    | AceDataTiming
    | AceDataVideo
    | AceDataStyle
)


class AceDataTaskResponse(_Shape):
    """A finished task's answer, as a blocking submit would have answered it."""

    success: Literal[True]
    task_id: str
    trace_id: str
    data: list[AceDataClip] | list[AceDataLyrics] | ToolData


class AceDataTaskFailure(_Shape):
    """A failed task's answer."""

    success: Literal[False]
    task_id: str
    trace_id: str
    error: AceDataErrorInfo


class AceDataTaskRecord(_Shape):
    """``/suno/tasks`` ``retrieve``: the bare record (contract §3). No ``response`` key
    until the task ends, and ``error`` only when it failed."""

    id: str
    created_at: float = Field(description="epoch seconds")
    trace_id: str = Field(description="the submit's trace id (the task id when unknown)")
    state: Literal["pending", "running", "complete", "failed"]
    status: Literal["pending", "processing", "complete", "failed"]
    progress: str = Field(pattern=r"^\d{1,3}%$", description='"0%" to "100%"')
    request: dict[str, Any] = Field(description="the body the task was submitted with")
    finished_at: float | Absent = Field(default=None, description="epoch seconds")
    response: AceDataTaskResponse | AceDataTaskFailure | Absent = None
    error: AceDataErrorInfo | Absent = None


class AceDataTaskBatch(_Shape):
    """``/suno/tasks`` ``retrieve_batch``: the key's tasks asked for, newest first."""

    items: list[AceDataTaskRecord]
    count: int = Field(ge=0)


class AceDataPersona(_Shape):
    """A persona as ``GET /suno/persona`` lists it."""

    id: str
    persona_id: str
    name: str
    description: str
    user_id: str
    created_at: float = Field(description="epoch seconds")
    source_type: Literal["persona", "voice"]
    source_audio_id: str
    source_audio_url: str
    task_id: str


class AceDataPersonaList(_Shape):
    """``GET /suno/persona``: one page of the key's personas; ``count`` is the total."""

    count: int = Field(ge=0)
    items: list[AceDataPersona]


class AceDataDeleted(_Shape):
    """``DELETE /suno/persona``."""

    success: Literal[True]
