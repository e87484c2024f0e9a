"""Typed results, the same for both dialects. Each keeps the server's JSON in ``raw``, so
fields a server adds beyond these stay reachable."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Dialect = Literal["sunocore", "acedata"]

#: A task's state in sunocore's words (AceData's states are mapped onto them).
TaskStatus = Literal["NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE"]
FINISHED: frozenset[str] = frozenset({"SUCCESS", "FAILURE"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Clip(_Model):
    """One song (or stem, or edit) a task made."""

    id: str
    title: str = ""
    #: submitted, queued, streaming, complete or error.
    status: str = ""
    audio_url: str = ""
    video_url: str = ""
    image_url: str = ""
    image_large_url: str = ""
    duration: float | None = None
    tags: str = ""
    lyrics: str = ""
    prompt: str = ""
    model_name: str = ""
    created_at: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return self.status == "complete"


class Lyrics(_Model):
    title: str = ""
    text: str = ""


class Task(_Model):
    """A task as the server shows it: its state, progress (0-100) and what it made."""

    id: str
    action: str = ""
    status: TaskStatus
    progress: int = 0
    fail_reason: str = ""
    clips: list[Clip] = Field(default_factory=list)
    #: A lyrics task's lyrics.
    lyrics: Lyrics | None = None
    #: What a task that makes data rather than clips answered (AceData's tools).
    data: Any = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"


class Video(_Model):
    clip_id: str
    video_url: str


class Midi(_Model):
    """A clip's MIDI: a standard MIDI file (sunocore) or its notes per instrument (AceData)."""

    clip_id: str
    data: bytes | None = Field(default=None, repr=False)
    instruments: list[dict[str, Any]] = Field(default_factory=list, repr=False)

    def to_bytes(self) -> bytes:
        """A standard MIDI file either way (written from the notes where none was sent)."""
        if self.data is not None:
            return self.data
        from cadenza.client.midi import notes_to_midi

        return notes_to_midi(self.instruments)


class Persona(_Model):
    id: str
    name: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class Vox(_Model):
    """A clip's isolated vocal (AceData ``/suno/vox``)."""

    id: str
    vocal_audio_url: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class Playlist(_Model):
    id: str
    name: str = ""
    clip_ids: list[str] = Field(default_factory=list)


class Balance(_Model):
    """The key's balance and limits (sunocore ``/suno/billing/me``)."""

    key_id: str
    name: str = ""
    credits: float = 0
    rate_limit_per_minute: int = 0
    concurrency_limit: int = 0
    is_admin: bool = False


class Word(_Model):
    """A sung word and when it sounds (seconds)."""

    word: str
    start_s: float
    end_s: float
