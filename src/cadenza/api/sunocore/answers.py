"""The answers of the sunocore dialect (seed 000) as pydantic models, for the API document.

Routes build their answers as plain dicts (``schemas``): that keeps them byte-compatible
with the new-api gateway and fast. These models describe the same shapes so that
``/openapi.json`` tells a generated client the truth; they are never used to serialise.
Most forbid unknown fields, so a field added to an answer and not here fails the tests
that validate real answers against the document.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from cadenza.domain.billing import EntryType
from cadenza.domain.library import PersonaType
from cadenza.domain.tasks import ClipStatus, TaskStatus
from cadenza.domain.uploads import UploadStatus


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Shape):
    """Every error of the dialect (``cadenza.api.sunocore.errors``)."""

    code: str = Field(description="stable machine-readable code, e.g. invalid_request")
    message: str = Field(description="readable reason, safe to show")
    data: None


DataT = TypeVar("DataT")


class Answer(_Shape, Generic[DataT]):
    """A success: ``code`` is always "success"; ``data`` depends on the route."""

    code: Literal["success"]
    message: str
    data: DataT


# -- tasks ----------------------------------------------------------------------------


class ClipMetadata(BaseModel):
    """The clip's request metadata; other keys (seed, vocal_gender, ...) pass through."""

    model_config = ConfigDict(extra="allow")

    tags: str
    prompt: str
    negative_tags: str
    gpt_description_prompt: str
    duration: float | None
    error_message: str | None
    type: Literal["gen"]
    stream: bool


class ClipObject(_Shape):
    """A clip as Suno shows it; media URLs are empty strings until ``status`` is complete."""

    id: str
    clip_id: str
    audio_url: str
    video_url: str
    image_url: str
    image_large_url: str
    model_name: str
    major_model_version: str
    status: ClipStatus
    title: str
    created_at: str = Field(description='ISO 8601 UTC with milliseconds, or ""')
    duration: float | None
    prompt: str
    tags: str
    negative_tags: str
    gpt_description_prompt: str
    lyric: str
    type: Literal["gen"]
    metadata: ClipMetadata


class LyricsObject(_Shape):
    """A lyrics task's data (action LYRICS), as Suno's lyrics endpoint shapes it."""

    id: str = Field(description="the task's id")
    status: ClipStatus
    title: str
    text: str = Field(description='sectioned lyrics ("[Verse]\\n..."); "" until complete')


class TaskObject(_Shape):
    """The task shape the new-api gateway relays; times are unix seconds, 0 until set."""

    task_id: str
    action: str = Field(description="MUSIC, CROP, UPSAMPLE, ... (the submit that made it)")
    status: TaskStatus
    fail_reason: str
    submit_time: int
    start_time: int
    finish_time: int
    progress: str = Field(pattern=r"^\d{1,3}%$", examples=["40%"])
    data: list[ClipObject] | LyricsObject = Field(
        description="the task's clips; for a LYRICS task, the lyrics object"
    )


class TaskIdAnswer(Answer[str]):
    """A submit's answer: ``data`` is the new task's id; poll it with /suno/fetch."""


class TaskAnswer(Answer[TaskObject]):
    """One task."""


class TaskListAnswer(Answer[list[TaskObject]]):
    """The tasks asked for that this key owns, in the order asked."""


# -- billing --------------------------------------------------------------------------


class PriceObject(_Shape):
    action: str
    display_name: str
    price: float
    enabled: bool
    refund_on_failure: bool


class KeyObject(_Shape):
    id: str
    name: str
    key_prefix: str
    credits_balance: float
    rate_limit_per_minute: int
    concurrency_limit: int
    is_admin: bool
    revoked: bool
    created_at: str


class MeObject(_Shape):
    auth_type: Literal["api_key"]
    is_admin: bool
    api_key: KeyObject


class TransactionObject(_Shape):
    id: str
    task_id: str | None
    action: str
    change_amount: float
    balance_after: float
    transaction_type: EntryType
    note: str
    created_at: str


class PricesAnswer(Answer[list[PriceObject]]):
    """The price of every action."""


class MeAnswer(Answer[MeObject]):
    """The calling key, with its balance read fresh."""


class TransactionsAnswer(Answer[list[TransactionObject]]):
    """The key's ledger, newest first."""


# -- library --------------------------------------------------------------------------


class PersonaObject(_Shape):
    persona_id: str
    id: str
    name: str
    description: str
    is_public: bool
    persona_type: PersonaType
    root_clip_id: str
    clips: list[str]
    voice: dict[str, Any]
    style: dict[str, Any]
    vox_audio_url: str
    vox_start_s: float | None
    vox_duration_s: float | None
    created_at: str


class AlignedWord(_Shape):
    word: str
    start_s: float
    end_s: float
    success: bool
    p_align: float
    line: int
    section: str


class AlignedLyrics(_Shape):
    aligned_words: list[AlignedWord]
    song_id: str
    message: str


class PlaylistObject(_Shape):
    playlist_id: str
    id: str
    name: str
    clip_ids: list[str]
    num_total_results: int
    created_at: str


class UpsampledTags(_Shape):
    upsampled_tags: str
    original_tags: str


class PromptImage(_Shape):
    image_url: str
    image_s3_id: str


class PersonaAnswer(Answer[PersonaObject]):
    """The new persona."""


class AlignedLyricsAnswer(Answer[AlignedLyrics]):
    """Word timings; an empty list (and a ``message``) for a clip with nothing sung."""


class PlaylistAnswer(Answer[PlaylistObject]):
    """The new playlist."""


class UpsampledTagsAnswer(Answer[UpsampledTags]):
    """Richer style tags."""


class PromptImageAnswer(Answer[PromptImage]):
    """Cover art drawn for the prompt."""


# -- uploads and videos ---------------------------------------------------------------


class UploadFields(_Shape):
    upload_id: str
    token: str


class UploadSlot(_Shape):
    """Where and how to POST the file: a multipart form, ``fields`` first, ``file`` last."""

    upload_id: str
    url: str
    fields: UploadFields
    max_bytes: int
    expires_at: int


class UploadReceived(_Shape):
    upload_id: str
    size: int
    status: UploadStatus


class VideoReady(_Shape):
    clip_id: str
    video_url: str


class VideoProcessing(_Shape):
    clip_id: str
    video_url: None
    status: Literal["processing"]
    task_id: str | None


class UploadSlotAnswer(Answer[UploadSlot]):
    """A pending upload slot."""


class UploadReceivedAnswer(Answer[UploadReceived]):
    """The file is stored; submit it with /suno/uploads/audio-url."""


class VideoAnswer(Answer[VideoReady | VideoProcessing]):
    """The video's URL, or ``status: processing`` and the task id to poll."""
