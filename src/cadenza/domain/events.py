"""Task events: what a client can see change in a task, in order (the outbox).

Every change of a task's status, progress, a clip's readiness or its preview is written
as an event in the transaction that makes it, so ndjson streams, callbacks, the console and
relays read one ordered history instead of diffing polls. The rules that turn a change into events
live here; the repositories apply them to every write (as they count the revision up).

Bookkeeping that no client sees (heartbeats, which queue holds a task, dispatch flags)
makes no event.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, utcnow

#: Progress events are written when progress enters a new band of this many points, so a
#: worker that reports every second writes at most ``100 / step`` of them per task.
PROGRESS_EVENT_STEP = 5


class EventKind(enum.StrEnum):
    CREATED = "created"
    STATE = "state"
    PROGRESS = "progress"
    CLIP = "clip"
    #: A streaming clip got a playable preview (its beginning) or a newer one.
    PREVIEW = "preview"


@dataclass(frozen=True)
class TaskEvent:
    """One change of one task. ``seq`` orders a task's events (0 until stored); it is
    global and increasing, so it is also the cursor a reader resumes from."""

    task_id: str
    key_id: str
    kind: EventKind
    payload: dict[str, Any]
    created_at: datetime = field(default_factory=utcnow)
    seq: int = 0

    @property
    def terminal(self) -> bool:
        """The task's last state: nothing follows it (a task answered at once, such as a
        synchronous tool's, is created finished)."""
        if self.kind not in (EventKind.CREATED, EventKind.STATE):
            return False
        return TaskStatus(self.payload["status"]).finished


@dataclass(frozen=True)
class TaskState:
    """What events are computed from: the stored task as it was before a change."""

    status: TaskStatus
    progress: int
    attempts: int


def state_of(task: Task) -> TaskState:
    return TaskState(task.status, task.progress, task.attempts)


def _state_payload(task: Task, before: TaskState | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "status": task.status.value,
        "progress": task.progress,
        "attempt": task.attempts,
    }
    if task.status is TaskStatus.FAILURE:
        payload["fail_reason"] = task.fail_reason
    if before is not None and before.status is TaskStatus.IN_PROGRESS:
        if task.status is TaskStatus.QUEUED:
            payload["requeued"] = True  # its worker died: handed out again
        elif task.status is TaskStatus.IN_PROGRESS:
            payload["retry"] = True  # a new worker took it over
    return payload


def task_events(
    before: TaskState | None, task: Task, now: datetime | None = None
) -> list[TaskEvent]:
    """The events of writing ``task`` over ``before`` (None: it is new).

    A new task is ``created``; a new status, or a new attempt at the same status (a task
    re-dispatched after its worker died), is ``state``; progress entering a new band of
    ``PROGRESS_EVENT_STEP`` points while running is ``progress``.
    """
    moment = now or utcnow()

    def event(kind: EventKind, payload: dict[str, Any]) -> TaskEvent:
        return TaskEvent(task.id, task.key_id, kind, payload, moment)

    if before is None:
        return [
            event(
                EventKind.CREATED,
                {
                    "status": task.status.value,
                    "action": str(task.action),
                    "progress": task.progress,
                },
            )
        ]
    if task.status is not before.status or task.attempts > before.attempts:
        return [event(EventKind.STATE, _state_payload(task, before))]
    if (
        task.status is TaskStatus.IN_PROGRESS
        and task.progress // PROGRESS_EVENT_STEP > before.progress // PROGRESS_EVENT_STEP
    ):
        return [event(EventKind.PROGRESS, {"progress": task.progress})]
    return []


#: Clip states a client waits for: its audio is playable, or it never will be.
_SETTLED = (ClipStatus.COMPLETE, ClipStatus.ERROR)


def clip_event(
    before: ClipStatus | None,
    clip: Clip,
    now: datetime | None = None,
    *,
    preview_before: str | None = None,
) -> TaskEvent | None:
    """A ``clip`` event when a clip becomes ready (complete) or fails; a ``preview``
    event when a streaming clip gets a preview other than ``preview_before`` (the stored
    one's key); None otherwise."""
    preview = clip.preview()
    if preview is not None and preview[0] != preview_before:
        return TaskEvent(
            clip.task_id,
            clip.key_id,
            EventKind.PREVIEW,
            {"clip_id": clip.id, "status": clip.status.value, "duration": preview[1]},
            now or utcnow(),
        )
    if clip.status not in _SETTLED or clip.status is before:
        return None
    payload: dict[str, Any] = {"clip_id": clip.id, "status": clip.status.value}
    if clip.status is ClipStatus.COMPLETE:
        payload["duration"] = clip.duration
    else:
        payload["error"] = clip.error_message
    return TaskEvent(clip.task_id, clip.key_id, EventKind.CLIP, payload, now or utcnow())
