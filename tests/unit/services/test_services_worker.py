from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from svc_doubles import FakeEngine, MemoryStorage

from cadenza.domain.billing import ApiKey, EntryType
from cadenza.domain.errors import EngineError
from cadenza.domain.events import EventKind
from cadenza.domain.tasks import ClipStatus, TaskStatus, utcnow
from cadenza.services import billing, tasks, worker
from cadenza.services.ports import Engine, PartialReporter, UnitOfWorkFactory
from cadenza.services.views import UowViews
from cadenza.services.worker import TaskRunner

MUSIC = {"prompt": "a calm song about rain", "tags": "ambient"}


def runner_for(
    uow: UnitOfWorkFactory, storage: MemoryStorage, engine: Engine, tmp_path: Path, **kw: Any
) -> TaskRunner:
    return TaskRunner(uow, storage, lambda action: engine, work_root=tmp_path / "work", **kw)


def refunds(uow: UnitOfWorkFactory, key: ApiKey) -> list[Decimal]:
    entries = billing.transactions(uow, key, limit=500)
    return [e.change_amount for e in entries if e.entry_type is EntryType.REFUND]


def test_success_uploads_files_and_fills_clips(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    engine = FakeEngine()
    runner = runner_for(uow, storage, engine, tmp_path, worker_name="w9")
    runner.run(task.id)
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.SUCCESS
    assert view.task.progress == 100
    assert view.task.attempts == 1 and view.task.worker == "w9"
    assert view.task.start_time is not None and view.task.finish_time is not None
    assert [c.status for c in view.clips] == [ClipStatus.COMPLETE] * 2
    for clip in view.clips:
        assert clip.audio_key is not None
        assert clip.audio_key.startswith(f"clips/{clip.id}-")
        assert clip.audio_key.endswith("/song.mp3")
        assert storage.get_bytes(clip.audio_key) == b"ID3" + clip.id.encode()
        assert clip.image_key == clip.files["cover.png"]
        assert (clip.duration, clip.title, clip.lyrics) == (12.5, "Made", "la la")
        assert clip.metadata["duration"] == 12.5
    # Keys are unguessable: the token differs per clip.
    assert len({c.audio_key.split("/")[1] for c in view.clips if c.audio_key}) == 2
    assert not list((tmp_path / "work").iterdir())
    # Running again (a redelivery) changes nothing.
    runner.run(task.id)
    assert len(engine.calls) == 1
    assert refunds(uow, key) == []


def test_engine_failure_refunds_once(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    balance: Any,
    tmp_path: Path,
) -> None:
    key = make_key("30")
    task = tasks.submit_music(uow, queue, key, MUSIC)
    runner = runner_for(uow, storage, FakeEngine(fail="out of tune"), tmp_path)
    runner.run(task.id)
    runner.run(task.id)
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.FAILURE
    assert view.task.fail_reason == "out of tune"
    assert [c.status for c in view.clips] == [ClipStatus.ERROR] * 2
    assert view.clips[0].error_message == "out of tune"
    assert refunds(uow, key) == [Decimal("10")]
    assert balance(key.id) == Decimal("30")
    assert storage.objects == {}


def test_no_refund_when_price_says_so(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    balance: Any,
    tmp_path: Path,
) -> None:
    billing.set_price(uow, "MUSIC", refund_on_failure=False)
    key = make_key("30")
    task = tasks.submit_music(uow, queue, key, MUSIC)
    runner_for(uow, storage, FakeEngine(fail="x"), tmp_path).run(task.id)
    assert refunds(uow, key) == []
    assert balance(key.id) == Decimal("20")


def test_unexpected_errors_fail_with_a_short_reason(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    class Broken(FakeEngine):
        def run(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            raise KeyError("/secret/path")

    def unknown(action: str) -> Engine:
        raise EngineError(f"no engine for {action}")

    key = make_key()
    first = tasks.submit_music(uow, queue, key, MUSIC)
    runner_for(uow, storage, Broken(), tmp_path).run(first.id)
    assert tasks.get(UowViews(uow), key, first.id).task.fail_reason == "internal error (KeyError)"
    second = tasks.submit_music(uow, queue, key, MUSIC)
    TaskRunner(uow, storage, unknown, work_root=tmp_path).run(second.id)
    assert tasks.get(UowViews(uow), key, second.id).task.fail_reason == "no engine for MUSIC"
    assert refunds(uow, key) == [Decimal("10"), Decimal("10")]


def test_poison_task_fails_after_max_attempts_with_one_refund(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    balance: Any,
    tmp_path: Path,
) -> None:
    key = make_key("10")
    task = tasks.submit_music(uow, queue, key, MUSIC)
    # Simulate workers that died mid-render twice: the task is left IN_PROGRESS.
    for attempt in (1, 2):
        with uow() as u:
            stored = u.tasks.get(task.id)
            assert stored is not None
            if stored.status is TaskStatus.IN_PROGRESS:
                stored.move_to(TaskStatus.QUEUED)
            stored.move_to(TaskStatus.IN_PROGRESS)
            stored.attempts = attempt
            u.tasks.update(stored)
            u.commit()
    engine = FakeEngine()
    runner = runner_for(uow, storage, engine, tmp_path, max_attempts=2)
    runner.run(task.id)
    runner.run(task.id)
    view = tasks.get(UowViews(uow), key, task.id)
    assert engine.calls == []
    assert view.task.status is TaskStatus.FAILURE
    assert "2 attempts" in view.task.fail_reason
    assert refunds(uow, key) == [Decimal("10")]
    assert balance(key.id) == Decimal("10")


def test_retry_of_in_progress_task_below_max_attempts_runs(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    with uow() as u:
        stored = u.tasks.get(task.id)
        assert stored is not None
        stored.move_to(TaskStatus.IN_PROGRESS)
        stored.attempts = 1
        u.tasks.update(stored)
        u.commit()
    runner_for(uow, storage, FakeEngine(), tmp_path, max_attempts=3).run(task.id)
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.SUCCESS
    assert view.task.attempts == 2


def test_progress_is_persisted_and_throttled(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker's clock, moved by the engine below: no real waiting, no timing luck.
    now = [1000.0]
    monkeypatch.setattr(worker, "time", SimpleNamespace(monotonic=lambda: now[0]))
    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    seen: list[int] = []

    class Watching(FakeEngine):
        def run(self, action: str, params: dict[str, Any], workdir: Path, progress: Any) -> Any:
            # (intervals since the previous report, fraction reported)
            for step, fraction in ((0, 0.1), (0.5, 0.2), (0.25, 0.3), (0.5, 0.4), (1, 0.45)):
                now[0] += step * worker.PROGRESS_INTERVAL_S
                progress(fraction, "step")
                seen.append(tasks.get(UowViews(uow), key, task.id).task.progress)
            for fraction in (1.5, 0.2):
                now[0] += 5
                progress(fraction, "step")
                seen.append(tasks.get(UowViews(uow), key, task.id).task.progress)
            raise EngineError("stop")

    runner_for(uow, storage, Watching(), tmp_path).run(task.id)
    # The first report is written at once, the next ones within an interval of that write
    # are not, the first one an interval or more after it is (and so on); a fraction over 1 stops
    # at 99% (only SUCCESS says 100%), and a lower report never moves progress back.
    assert seen == [10, 10, 10, 40, 45, 99, 99]


def test_task_timed_out_while_rendering_is_not_resurrected(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    key = make_key("10")
    task = tasks.submit_music(uow, queue, key, MUSIC)

    class Slow(FakeEngine):
        def run(self, action: str, params: dict[str, Any], workdir: Path, progress: Any) -> Any:
            # The reaper times the task out mid-render.
            assert tasks.settle_failure(uow, task.id, "timed out")
            return FakeEngine().run(action, params, workdir, lambda f, m: None)

    runner_for(uow, storage, Slow(), tmp_path).run(task.id)
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.FAILURE
    assert view.task.fail_reason == "timed out"
    assert refunds(uow, key) == [Decimal("10")]
    assert storage.objects == {}


def test_expired_task_is_failed_without_running(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    with uow() as u:
        stored = u.tasks.get(task.id)
        assert stored is not None
        stored.deadline = utcnow() - timedelta(seconds=1)
        u.tasks.update(stored)
        u.commit()
    engine = FakeEngine()
    runner_for(uow, storage, engine, tmp_path).run(task.id)
    assert engine.calls == []
    assert tasks.get(UowViews(uow), key, task.id).task.fail_reason == "timed out"


def test_bad_output_names_fail_the_task(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    class Escaping(FakeEngine):
        def run(self, action: str, params: dict[str, Any], workdir: Path, progress: Any) -> Any:
            (workdir / "x").write_bytes(b"x")
            return [{"id": params["clip_ids"][0], "files": {"../../etc/x": str(workdir / "x")}}]

    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    runner_for(uow, storage, Escaping(), tmp_path).run(task.id)
    assert tasks.get(UowViews(uow), key, task.id).task.status is TaskStatus.FAILURE
    assert storage.objects == {}


@pytest.mark.parametrize("missing", ["no-such-task"])
def test_unknown_task_is_a_no_op(
    uow: UnitOfWorkFactory, storage: MemoryStorage, tmp_path: Path, missing: str
) -> None:
    engine = FakeEngine()
    runner_for(uow, storage, engine, tmp_path).run(missing)
    assert engine.calls == []
    assert storage.objects == {}
    with uow() as u:
        assert u.tasks.get(missing) is None  # not created by the attempt
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


def test_file_names_with_spaces_are_stored_under_safe_keys(
    uow: UnitOfWorkFactory,
    queue: Any,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    from cadenza.storage.local import LocalStorage

    class Stems(FakeEngine):
        def run(self, action: str, params: dict[str, Any], workdir: Path, progress: Any) -> Any:
            stem = workdir / "bv.wav"
            stem.write_bytes(b"RIFF")
            files = {"stems/Backing Vocals.wav": str(stem)}
            return [{"id": cid, "files": files} for cid in params["clip_ids"]]

    storage = LocalStorage(tmp_path / "media", "http://media.test")
    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    TaskRunner(uow, storage, lambda action: Stems(), work_root=tmp_path / "work").run(task.id)
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.SUCCESS
    assert len(view.clips) == 2
    for clip in view.clips:
        stored = clip.files["stems/Backing Vocals.wav"]
        assert stored.endswith("/stems/Backing_Vocals.wav")
        assert storage.get_bytes(stored) == b"RIFF"


class _SilentEngine(FakeEngine):
    """Works for a while without reporting progress, recording the heartbeats meanwhile."""

    def __init__(self, uow: UnitOfWorkFactory, task_id: str) -> None:
        super().__init__(steps=0)
        self.uow, self.task_id = uow, task_id
        self.beats: list[Any] = []

    def run(self, action: str, params: dict[str, Any], workdir: Path, progress: Any) -> Any:
        import time

        for _ in range(6):
            time.sleep(0.05)
            with self.uow(read_only=True) as u:
                task = u.tasks.get(self.task_id)
                assert task is not None
                self.beats.append(task.heartbeat_at)
        return super().run(action, params, workdir, progress)


def test_a_running_task_beats_without_progress_and_a_revived_one_runs_again(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    # A first worker claimed it, then died (its heartbeat stopped long ago).
    with uow() as u:
        dead = u.tasks.get(task.id, for_update=True)
        assert dead is not None
        dead.move_to(TaskStatus.IN_PROGRESS)
        dead.attempts = 1
        dead.heartbeat_at = utcnow() - timedelta(hours=1)
        u.tasks.update(dead)
        u.commit()
    engine = _SilentEngine(uow, task.id)
    runner_for(uow, storage, engine, tmp_path, heartbeat_s=0.02).run(task.id)
    beats = [b for b in engine.beats if b is not None]
    assert len(set(beats)) >= 3  # claimed (one beat), then beating on its own
    assert beats == sorted(beats)
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.SUCCESS and view.task.attempts == 2


class PreviewEngine:
    """Hands each clip's preview over mid-run, records what a poll saw right after, then
    finishes with the same preview file in its layout (or fails, when told to)."""

    name = "previews"

    def __init__(self, uow: UnitOfWorkFactory, key: ApiKey, *, fail: str | None = None) -> None:
        self.uow, self.key, self.fail = uow, key, fail
        self.seen: list[Any] = []

    def run(
        self, action: str, params: dict[str, Any], workdir: Path, progress: Any
    ) -> list[dict[str, Any]]:
        assert isinstance(progress, PartialReporter)
        results = []
        for clip_id in params["clip_ids"]:
            preview = workdir / f"{clip_id}-preview.mp3"
            preview.write_bytes(b"ID3 head " + clip_id.encode())
            progress.partial(
                {
                    "id": clip_id,
                    "files": {"preview.mp3": str(preview)},
                    "meta": {"preview_duration": 17.6},
                }
            )
            song = workdir / f"{clip_id}.mp3"
            song.write_bytes(b"ID3 song " + clip_id.encode())
            results.append(
                {
                    "id": clip_id,
                    "files": {"song.mp3": str(song), "preview.mp3": str(preview)},
                    "meta": {"duration": 170.0, "preview_duration": 17.6},
                }
            )
        task_id = params["task_id"]
        view = tasks.get(UowViews(self.uow), self.key, task_id)
        with self.uow(read_only=True) as u:
            events = u.task_events.after(task_id, 0)
        self.seen = [view, events]
        if self.fail is not None:
            raise EngineError(self.fail)
        return results


def test_preview_is_stored_shown_while_streaming_and_replaced_by_the_song(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    with uow() as u:  # the engine reads its task id from the params
        stored = u.tasks.get(task.id, for_update=True)
        assert stored is not None
        stored.params = {**stored.params, "task_id": task.id}
        u.tasks.update(stored)
        u.commit()
    revision_before = UowViews(uow).revisions([task.id], key.id)[task.id]
    engine = PreviewEngine(uow, key)
    runner_for(uow, storage, engine, tmp_path).run(task.id)

    running, events = engine.seen
    assert running.task.status is TaskStatus.IN_PROGRESS
    assert running.task.revision > revision_before
    previews = {}
    for clip in running.clips:
        assert clip.status is ClipStatus.STREAMING
        found = clip.preview()
        assert found is not None and found[1] == 17.6
        assert found[0].startswith(f"clips/{clip.id}-") and found[0].endswith("/preview.mp3")
        assert storage.get_bytes(found[0]) == b"ID3 head " + clip.id.encode()
        previews[clip.id] = found[0]
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.PREVIEW) == 2
    shown = [e.payload for e in events if e.kind is EventKind.PREVIEW]
    assert {p["clip_id"] for p in shown} == set(previews)
    assert all(p["duration"] == 17.6 and p["status"] == "streaming" for p in shown)

    done = tasks.get(UowViews(uow), key, task.id)
    assert done.task.status is TaskStatus.SUCCESS
    for clip in done.clips:
        assert clip.status is ClipStatus.COMPLETE and clip.preview() is None
        assert "preview_duration" not in clip.metadata
        assert clip.duration == 170.0
        assert clip.audio_key == clip.files["song.mp3"]
        # The song's files sit beside the preview, which keeps its key (and its URL).
        assert clip.files["preview.mp3"] == previews[clip.id]
        assert clip.audio_key.rsplit("/", 1)[0] == previews[clip.id].rsplit("/", 1)[0]
        assert storage.get_bytes(clip.audio_key) == b"ID3 song " + clip.id.encode()
    with uow(read_only=True) as u:
        after = u.task_events.after(task.id, 0)
    assert [e.kind for e in after].count(EventKind.PREVIEW) == 2  # none at the end


def test_a_failed_run_deletes_its_previews(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    key = make_key()
    task = tasks.submit_music(uow, queue, key, MUSIC)
    with uow() as u:
        stored = u.tasks.get(task.id, for_update=True)
        assert stored is not None
        stored.params = {**stored.params, "task_id": task.id}
        u.tasks.update(stored)
        u.commit()
    engine = PreviewEngine(uow, key, fail="lost the beat")
    runner_for(uow, storage, engine, tmp_path).run(task.id)
    running, _ = engine.seen
    assert all(c.preview() is not None for c in running.clips)
    view = tasks.get(UowViews(uow), key, task.id)
    assert view.task.status is TaskStatus.FAILURE
    assert all(c.preview() is None for c in view.clips)
    assert storage.objects == {}


def _inspo_task(uow: UnitOfWorkFactory, queue: Any, storage: MemoryStorage, key: ApiKey) -> Any:
    from cadenza.services import creative

    refs = ["inspo/t1-abc/reference-0.mp3", "inspo/t1-abc/reference-1.wav"]
    for ref in refs:
        storage.put_bytes(ref, b"RIFF", "application/octet-stream")
    storage.put_bytes("inspo/t2-def/reference-0.mp3", b"ID3", "application/octet-stream")
    return creative.submit_inspo(uow, queue, key, reference_keys=refs, tags="jazz")


@pytest.mark.parametrize("fail", [None, "no tempo heard"])
def test_an_ended_task_deletes_the_inputs_fetched_for_it_alone(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
    fail: str | None,
) -> None:
    key = make_key("50")
    task = _inspo_task(uow, queue, storage, key)
    assert tasks.input_folders(task) == ["inspo/t1-abc/"]
    runner_for(uow, storage, FakeEngine(fail=fail), tmp_path).run(task.id)
    ended = tasks.get(UowViews(uow), key, task.id).task
    assert ended.status is (TaskStatus.FAILURE if fail else TaskStatus.SUCCESS)
    assert not [k for k in storage.objects if k.startswith("inspo/t1-abc/")]
    # Another task's references stay.
    assert storage.exists("inspo/t2-def/reference-0.mp3")


def test_a_task_timed_out_before_it_ran_deletes_its_inputs(
    uow: UnitOfWorkFactory,
    queue: Any,
    storage: MemoryStorage,
    make_key: Callable[..., ApiKey],
    tmp_path: Path,
) -> None:
    from cadenza.services.reaper import reap

    key = make_key("50")
    task = _inspo_task(uow, queue, storage, key)
    report = reap(uow, queue, now=utcnow() + timedelta(hours=2), storage=storage)
    assert report.failed == 1
    assert not [k for k in storage.objects if k.startswith("inspo/t1-abc/")]
    assert storage.exists("inspo/t2-def/reference-0.mp3")
    # A redelivery afterwards runs nothing and keeps nothing.
    engine = FakeEngine()
    runner_for(uow, storage, engine, tmp_path).run(task.id)
    assert engine.calls == []
