"""A real short song rendered by the built-in engine through the task runner: its events
tell the task's story in order, and a task with a callback URL owes exactly one callback,
written with its final state."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from cadenza.bootstrap import build_runner, build_storage, build_uow, migrate
from cadenza.compose.pipeline import ComposeEngine
from cadenza.domain.callbacks import Callback, DeliveryStatus
from cadenza.domain.events import PROGRESS_EVENT_STEP, EventKind, TaskEvent
from cadenza.domain.music import MusicRequest
from cadenza.domain.tasks import TaskStatus
from cadenza.engines.registry import EngineRegistry
from cadenza.queue.inline import InlineQueue
from cadenza.services import billing, keys, tasks, worker
from cadenza.services.ports import UnitOfWorkFactory
from cadenza.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[UnitOfWorkFactory, InlineQueue]]:
    # Every distinct percent reaches the database: the events must coalesce them.
    monkeypatch.setattr(worker, "PROGRESS_INTERVAL_S", 0.0)
    settings = Settings(data_dir=tmp_path, storage="local", public_url="http://testserver")
    migrate(settings)
    uow = build_uow(settings)
    billing.seed_prices(uow)
    storage = build_storage(settings)
    engines = EngineRegistry({"MUSIC": ComposeEngine(workers=2, storage=storage)})
    runner = build_runner(settings, uow, storage, engines)
    yield uow, InlineQueue(runner.run)


def _events(uow: UnitOfWorkFactory, task_id: str) -> list[TaskEvent]:
    with uow(read_only=True) as u:
        return u.task_events.after(task_id, 0, 1000)


def test_a_rendered_song_tells_its_story_and_owes_one_callback(
    setup: tuple[UnitOfWorkFactory, InlineQueue],
) -> None:
    uow, queue = setup
    key, _ = keys.create_key(uow, name="events", credits=Decimal(100))
    request = MusicRequest(tags="lofi, piano", instrumental=True, max_duration_s=6, seed=5)
    task = tasks.submit(
        uow,
        queue,
        key,
        "MUSIC",
        {"request": request.to_dict()},
        clip_count=2,
        callback=Callback("https://example.com/hook", "test"),
    )

    every = _events(uow, task.id)
    seqs = [e.seq for e in every]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e.task_id == task.id and e.key_id == key.id for e in every)
    # Each clip's preview is shown while the task runs, before any clip is complete.
    previews = [i for i, e in enumerate(every) if e.kind is EventKind.PREVIEW]
    assert len(previews) == 2
    first_clip = next(i for i, e in enumerate(every) if e.kind is EventKind.CLIP)
    assert previews[0] > 1 and previews[-1] < first_clip
    assert all(every[i].payload["status"] == "streaming" for i in previews)
    assert all(every[i].payload["duration"] > 0 for i in previews)
    events = [e for e in every if e.kind is not EventKind.PREVIEW]
    kinds = [e.kind for e in events]

    assert kinds[0] is EventKind.CREATED and events[0].payload["status"] == "QUEUED"
    assert kinds[1] is EventKind.STATE and events[1].payload["status"] == "IN_PROGRESS"
    assert events[1].payload["attempt"] == 1
    progress = [e.payload["progress"] for e in events if e.kind is EventKind.PROGRESS]
    assert progress, "a render reports progress"
    assert progress == sorted(progress) and all(0 < p < 100 for p in progress)
    bands = [p // PROGRESS_EVENT_STEP for p in progress]
    assert len(set(bands)) == len(bands), "one progress event per band at most"
    assert set(kinds[2 : 2 + len(progress)]) == {EventKind.PROGRESS}
    tail = events[2 + len(progress) :]
    assert [e.kind for e in tail] == [EventKind.CLIP, EventKind.CLIP, EventKind.STATE]
    assert {e.payload["status"] for e in tail[:2]} == {"complete"}
    assert all(e.payload["duration"] and e.payload["duration"] > 0 for e in tail[:2])
    assert tail[-1].payload["status"] == "SUCCESS" and tail[-1].terminal

    with uow(read_only=True) as u:
        finished = u.tasks.get(task.id)
        clip_ids = {c.id for c in u.clips.list_for_tasks([task.id])}
        deliveries = u.callbacks.for_task(task.id)
        assert u.task_events.latest_seq(task.id) == seqs[-1]
    assert finished is not None and finished.status is TaskStatus.SUCCESS
    assert {e.payload["clip_id"] for e in tail[:2]} == clip_ids
    assert {every[i].payload["clip_id"] for i in previews} == clip_ids
    assert len(deliveries) == 1
    (delivery,) = deliveries
    assert delivery.url == "https://example.com/hook" and delivery.dialect == "test"
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == 0
    assert delivery.body is None  # rendered at its first attempt, not before
    # Written in the final transaction: stamped with the final event's time.
    assert delivery.created_at == tail[-1].created_at


def test_a_task_without_a_callback_owes_none(
    setup: tuple[UnitOfWorkFactory, InlineQueue],
) -> None:
    uow, queue = setup
    key, _ = keys.create_key(uow, name="events", credits=Decimal(100))
    request = MusicRequest(tags="lofi", instrumental=True, max_duration_s=4, seed=9)
    task = tasks.submit(uow, queue, key, "MUSIC", {"request": request.to_dict()}, clip_count=2)
    events = _events(uow, task.id)
    assert events[-1].terminal and events[-1].payload["status"] == "SUCCESS"
    with uow(read_only=True) as u:
        assert u.callbacks.for_task(task.id) == []
