"""Which changes of a task make events, and which do not."""

from __future__ import annotations

from decimal import Decimal

from cadenza.domain.events import EventKind, TaskState, clip_event, state_of, task_events
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus


def _task(**fields: object) -> Task:
    task = Task(id="t", key_id="k", action="MUSIC", params={}, price=Decimal(0))
    for name, value in fields.items():
        setattr(task, name, value)
    return task


def test_a_task_created_finished_is_terminal_at_once() -> None:
    (event,) = task_events(None, _task(status=TaskStatus.SUCCESS, progress=100))
    assert event.kind is EventKind.CREATED and event.terminal
    (queued,) = task_events(None, _task(status=TaskStatus.QUEUED))
    assert not queued.terminal


def test_bookkeeping_makes_no_event() -> None:
    task = _task(status=TaskStatus.IN_PROGRESS, progress=42, attempts=1)
    before = state_of(task)
    task.dispatched, task.worker, task.queue_instance = True, "w", "q"
    assert task_events(before, task) == []
    task.progress = 44  # the same band of five points
    assert task_events(before, task) == []
    task.progress = 45
    (event,) = task_events(before, task)
    assert event.kind is EventKind.PROGRESS and event.payload == {"progress": 45}


def test_progress_of_a_task_not_running_makes_no_progress_event() -> None:
    before = TaskState(TaskStatus.QUEUED, 0, 0)
    assert task_events(before, _task(status=TaskStatus.QUEUED, progress=50)) == []


def test_clips_make_events_when_they_settle() -> None:
    clip = Clip(id="c", task_id="t", key_id="k", status=ClipStatus.STREAMING)
    assert clip_event(ClipStatus.QUEUED, clip) is None
    clip.status, clip.duration = ClipStatus.COMPLETE, 3.5
    event = clip_event(ClipStatus.STREAMING, clip)
    assert event is not None and event.payload == {
        "clip_id": "c",
        "status": "complete",
        "duration": 3.5,
    }
    assert clip_event(ClipStatus.COMPLETE, clip) is None  # already ready: no repeat


def test_a_new_preview_of_a_streaming_clip_makes_a_preview_event() -> None:
    clip = Clip(id="c", task_id="t", key_id="k", status=ClipStatus.STREAMING)
    assert clip_event(ClipStatus.STREAMING, clip) is None
    clip.files["preview.mp3"] = "clips/c-1/preview.mp3"
    clip.metadata["preview_duration"] = 17.6
    event = clip_event(ClipStatus.STREAMING, clip)
    assert event is not None and event.kind is EventKind.PREVIEW and not event.terminal
    assert event.payload == {"clip_id": "c", "status": "streaming", "duration": 17.6}
    # The same preview written again (another field changed) makes none.
    assert clip_event(ClipStatus.STREAMING, clip, preview_before="clips/c-1/preview.mp3") is None
    # Complete: the settle event, not a preview one.
    clip.status, clip.duration = ClipStatus.COMPLETE, 170.0
    settled = clip_event(ClipStatus.STREAMING, clip, preview_before="clips/c-1/preview.mp3")
    assert settled is not None and settled.kind is EventKind.CLIP
