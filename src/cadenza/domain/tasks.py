"""Tasks and clips, with the state machines every dialect reports from."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class TaskStatus(enum.StrEnum):
    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCESS, TaskStatus.FAILURE)

    @property
    def active(self) -> bool:
        """Counts against the key's concurrency limit."""
        return not self.finished


_ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.NOT_START: frozenset({TaskStatus.SUBMITTED, TaskStatus.FAILURE}),
    TaskStatus.SUBMITTED: frozenset({TaskStatus.QUEUED, TaskStatus.FAILURE}),
    TaskStatus.QUEUED: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.FAILURE}),
    # IN_PROGRESS -> QUEUED is a retry after a worker died mid-render.
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.QUEUED}),
    TaskStatus.SUCCESS: frozenset(),
    TaskStatus.FAILURE: frozenset(),
}


class InvalidTransition(Exception):
    pass


def check_transition(current: TaskStatus, new: TaskStatus) -> None:
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"{current} -> {new}")


class ClipStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    QUEUED = "queued"
    STREAMING = "streaming"
    COMPLETE = "complete"
    ERROR = "error"


#: Clip status shown while its task is in a given state.
CLIP_STATUS_FOR_TASK: dict[TaskStatus, ClipStatus] = {
    TaskStatus.NOT_START: ClipStatus.SUBMITTED,
    TaskStatus.SUBMITTED: ClipStatus.SUBMITTED,
    TaskStatus.QUEUED: ClipStatus.QUEUED,
    TaskStatus.IN_PROGRESS: ClipStatus.STREAMING,
    TaskStatus.SUCCESS: ClipStatus.COMPLETE,
    TaskStatus.FAILURE: ClipStatus.ERROR,
}


@dataclass
class Task:
    """A unit of asynchronous work owned by one API key."""

    id: str
    key_id: str
    action: str
    params: dict[str, Any]
    price: Any  # Decimal; Any keeps JSON-ish callers simple
    status: TaskStatus = TaskStatus.SUBMITTED
    progress: int = 0
    fail_reason: str = ""
    submit_time: datetime = field(default_factory=utcnow)
    start_time: datetime | None = None
    finish_time: datetime | None = None
    #: Last sign of life from the worker running it; a stale one means the worker died.
    heartbeat_at: datetime | None = None
    deadline: datetime | None = None
    attempts: int = 0
    dispatched: bool = False
    #: The in-process queue (one start of one server) it was last handed to: its waiting
    #: and running tasks die with that process. None where a broker keeps them (Celery).
    queue_instance: str | None = None
    worker: str = ""
    #: Queue routing hint (the worker that holds a follow-up's files); kept for re-dispatch.
    route: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    #: The answer of an action that makes data rather than clips (lyrics: title and text).
    result: dict[str, Any] | None = None
    #: Where it came from: ``dialect``, the client's ``request`` body, the ``trace_id`` it
    #: was answered with (``TaskOrigin``); None for tasks the server made itself.
    origin: dict[str, Any] | None = None
    #: Counted up by the database at every change to the task or its clips.
    revision: int = 0
    #: Where its outcome is POSTed when it ends, and the dialect that renders it.
    callback_url: str | None = None
    callback_dialect: str | None = None

    def move_to(self, new: TaskStatus, now: datetime | None = None) -> None:
        check_transition(self.status, new)
        now = now or utcnow()
        if new is TaskStatus.IN_PROGRESS and self.start_time is None:
            self.start_time = now
        if new.finished:
            self.finish_time = now
            if new is TaskStatus.SUCCESS:
                self.progress = 100
        self.status = new


#: The clip file playable while its task still runs (the song's beginning), and the
#: metadata entry holding its length in seconds; the final files replace both.
PREVIEW_FILE = "preview.mp3"
PREVIEW_DURATION = "preview_duration"


@dataclass
class Clip:
    """A song (or other media result) produced by a task."""

    id: str
    task_id: str
    key_id: str
    title: str = ""
    tags: str = ""
    negative_tags: str = ""
    prompt: str = ""
    gpt_description_prompt: str = ""
    lyrics: str = ""
    model_name: str = ""
    major_model_version: str = ""
    status: ClipStatus = ClipStatus.SUBMITTED
    duration: float | None = None
    audio_key: str | None = None
    image_key: str | None = None
    image_large_key: str | None = None
    video_key: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error_message: str = ""
    created_at: datetime = field(default_factory=utcnow)

    def preview(self) -> tuple[str, float] | None:
        """The storage key and length (seconds) of what is playable while the clip is
        streaming; None before the engine has handed a preview over, and once it is not
        streaming (a complete clip plays its song)."""
        key = self.files.get(PREVIEW_FILE)
        if self.status is not ClipStatus.STREAMING or not key:
            return None
        seconds = self.metadata.get(PREVIEW_DURATION)
        return key, float(seconds) if isinstance(seconds, int | float) else 0.0


@dataclass
class TaskView:
    """A task with its clips, as a poll answers it."""

    task: Task
    clips: list[Clip]
