"""Runs one task on its engine: idempotent, progress-reporting, and it always settles."""

from __future__ import annotations

import logging
import mimetypes
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cadenza.domain.channels import is_relay_route
from cadenza.domain.errors import DomainError, EngineError
from cadenza.domain.tasks import (
    PREVIEW_DURATION,
    PREVIEW_FILE,
    Clip,
    ClipStatus,
    Task,
    TaskStatus,
    new_id,
    utcnow,
)
from cadenza.services.ports import Engine, MediaStorage, UnitOfWorkFactory
from cadenza.services.tasks import delete_prefixes, input_folders, settle_failure

log = logging.getLogger(__name__)

#: Least time between two progress writes of one task (seconds).
PROGRESS_INTERVAL_S = 0.25
#: Seconds between two heartbeats of a running task (see ``reaper.reap``).
HEARTBEAT_INTERVAL_S = 10.0

#: Output files that fill the clip's well-known fields.
AUDIO_FILE = "song.mp3"
IMAGE_FILE = "cover.png"
IMAGE_LARGE_FILE = "cover_large.png"
VIDEO_FILE = "video.mp4"


class TaskCancelled(Exception):
    """The task was finished elsewhere (timed out by the reaper) while it rendered."""


class TaskAbandoned(TaskCancelled):
    """This process is stopping: the task is left as it is, for another to resume."""


@dataclass
class _Start:
    task: Task
    clips: list[Clip]


@dataclass
class _Outputs:
    """Where one run stores its clips' files: a fresh prefix per clip (so a retry never
    overwrites what an earlier attempt's answers point at), every prefix it wrote to (to
    delete when the run fails), and the previews already stored (path, key) per clip."""

    prefixes: dict[str, str]
    uploaded: list[str]
    previews: dict[str, tuple[str, str]]

    def prefix(self, clip_id: str) -> str:
        found = self.prefixes.get(clip_id)
        if found is None:
            found = f"clips/{clip_id}-{secrets.token_urlsafe(12)}"
            self.prefixes[clip_id] = found
            self.uploaded.append(found + "/")
        return found


class _Reporter:
    """The ``progress`` an engine gets: progress writes, and previews (``partial``)."""

    def __init__(
        self, progress: Callable[[float, str], None], partial: Callable[[dict[str, Any]], None]
    ) -> None:
        self._progress = progress
        self._partial = partial

    def __call__(self, fraction: float, message: str = "") -> None:
        self._progress(fraction, message)

    def partial(self, result: dict[str, Any]) -> None:
        self._partial(result)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    if guessed:
        return guessed
    if name.endswith((".mid", ".midi")):
        return "audio/midi"
    return "application/octet-stream"


def _relative_name(name: str) -> str:
    """The engine's output name, normalised (``stems/Backing Vocals.wav`` stays readable)."""
    path = PurePosixPath(name.replace("\\", "/"))
    parts = [p for p in path.parts if p not in ("", ".", "/")]
    if not parts or any(p == ".." for p in parts) or path.is_absolute():
        raise EngineError(f"bad output file name {name!r}")
    return "/".join(parts)


def _storage_name(relative: str) -> str:
    """Storage keys allow ``[A-Za-z0-9._-]`` only: other characters become ``_``."""
    return "/".join(_UNSAFE.sub("_", part).lstrip(".") or "_" for part in relative.split("/"))


def _task_result(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the engine answered beside clips (``{"result": {...}}`` entries), merged."""
    found = [r["result"] for r in results if "result" in r]
    if not found:
        return None
    merged: dict[str, Any] = {}
    for part in found:
        if not isinstance(part, dict):
            raise EngineError("the engine's task result is not an object")
        merged.update(part)
    return merged


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EngineError | DomainError):
        return str(exc) or type(exc).__name__
    return f"internal error ({type(exc).__name__})"


class TaskRunner:
    """Executes tasks by id; safe to call twice for the same task (at-least-once queues)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        storage: MediaStorage,
        engine_for: Callable[[str], Engine],
        *,
        work_root: Path,
        max_attempts: int = 3,
        worker_name: str = "",
        heartbeat_s: float = HEARTBEAT_INTERVAL_S,
        relay: Engine | None = None,
    ) -> None:
        self._heartbeat_s = heartbeat_s
        self._relay = relay
        self._uow = uow
        self._storage = storage
        self._engine_for = engine_for
        self._work_root = Path(work_root)
        self._max_attempts = max(1, max_attempts)
        self._worker_name = worker_name

    def engine_for(self, action: str) -> Engine:
        """The engine that runs ``action`` (an EngineError if none does)."""
        return self._engine_for(action)

    def run(self, task_id: str) -> None:
        start = self._begin(task_id)
        if start is None:
            return
        task = start.task
        workdir = self._work_root / f"{task.id}-{secrets.token_hex(4)}"
        outputs = _Outputs({}, [], {})
        uploaded = outputs.uploaded
        try:
            params = dict(task.params)
            params.setdefault("clip_ids", [c.id for c in start.clips])
            if is_relay_route(task.route):
                if self._relay is None:
                    raise EngineError("this worker relays no tasks")
                engine = self._relay
                params.update(task_id=task.id, route=task.route)
            else:
                engine = self._engine_for(task.action)
            workdir.mkdir(parents=True, exist_ok=True)
            reporter = _Reporter(
                self._progress(task.id),
                lambda result: self._store_preview(task.id, result, outputs),
            )
            with self._heartbeat(task.id):
                results = engine.run(task.action, params, workdir, reporter)
            outcome = _task_result(results)
            clip_results = [r for r in results if "result" not in r]
            clips = (
                self._store(task, start.clips, clip_results, outputs)
                if clip_results or outcome is None
                else []
            )
            if self._finish(task.id, clips, outcome):
                self._discard(input_folders(task))
            else:
                self._discard(uploaded)
        except TaskAbandoned:
            log.info("task %s left to resume elsewhere", task.id)
            self._discard(uploaded)
        except TaskCancelled:
            log.info("task %s was finished elsewhere while running", task.id)
            self._discard(uploaded)
        except Exception as exc:
            log.warning("task %s failed: %s", task.id, exc, exc_info=True)
            self._discard(uploaded)
            if settle_failure(self._uow, task.id, _reason(exc)):
                self._discard(input_folders(task))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _begin(self, task_id: str) -> _Start | None:
        """Claim the task (QUEUED -> IN_PROGRESS); None when there is nothing to run."""
        with self._uow() as u:
            task = u.tasks.get(task_id, for_update=True)
            if task is None or task.status.finished:
                return None
            now = utcnow()
            expired = task.deadline is not None and task.deadline < now
            poisoned = task.attempts >= self._max_attempts
        if expired or poisoned:
            reason = "timed out" if expired else f"gave up after {task.attempts} attempts"
            if settle_failure(self._uow, task_id, reason):
                self._discard(input_folders(task))
            return None
        with self._uow() as u:
            task = u.tasks.get(task_id, for_update=True)
            if task is None or task.status.finished or task.attempts >= self._max_attempts:
                return None
            if task.status is TaskStatus.IN_PROGRESS:
                # A redelivery after the previous worker died mid-render.
                task.move_to(TaskStatus.QUEUED, now)
            if task.status in (TaskStatus.NOT_START, TaskStatus.SUBMITTED):
                task.move_to(TaskStatus.QUEUED, now)
            task.move_to(TaskStatus.IN_PROGRESS, now)
            task.heartbeat_at = now
            task.attempts += 1
            task.worker = self._worker_name
            task.dispatched = True
            u.tasks.update(task)
            clips = u.clips.list_for_tasks([task.id])
            for clip in clips:
                clip.status = ClipStatus.STREAMING
                # An earlier attempt's preview goes: this attempt hands over its own.
                clip.files.pop(PREVIEW_FILE, None)
                clip.metadata.pop(PREVIEW_DURATION, None)
                u.clips.update(clip)
            u.commit()
        return _Start(task, clips)

    @contextmanager
    def _heartbeat(self, task_id: str) -> Iterator[None]:
        """Beats from a thread while the engine runs: a render may go a long time without
        progress, and only a process that died stops beating."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self._heartbeat_s):
                try:
                    with self._uow() as u:
                        alive = u.tasks.beat(task_id, utcnow())
                        u.commit(durable=False)  # a lost beat only ages the last one
                except Exception:
                    log.warning("could not record heartbeat of task %s", task_id, exc_info=True)
                    continue
                if not alive:  # finished elsewhere; progress reports will notice
                    return

        thread = threading.Thread(target=beat, name=f"heartbeat-{task_id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=self._heartbeat_s + 5)

    def _progress(self, task_id: str) -> Callable[..., None]:
        last_write = 0.0
        last_value = -1

        def report(fraction: float, message: str = "") -> None:
            nonlocal last_write, last_value
            value = max(0, min(99, int(float(fraction) * 100)))
            now = time.monotonic()
            if value == last_value or now - last_write < PROGRESS_INTERVAL_S:
                return
            last_write = now
            try:
                with self._uow() as u:
                    task = u.tasks.get(task_id, for_update=True)
                    if task is None or task.status is not TaskStatus.IN_PROGRESS:
                        raise TaskCancelled(task_id)
                    if value > task.progress:
                        task.progress = value
                        u.tasks.update(task)
                        u.commit(durable=False)  # advisory: the next report repeats it
            except TaskCancelled:
                raise
            except Exception:
                # Progress is advisory: a busy database must not abort the render.
                log.warning("could not record progress of task %s", task_id, exc_info=True)
                return
            last_value = value

        return report

    def _store_preview(self, task_id: str, result: dict[str, Any], outputs: _Outputs) -> None:
        """Store a clip's preview and show it on the streaming clip, in one transaction
        that counts the task's revision up and writes a ``preview`` event (the clip
        repository does both). A preview is advisory: failing to store it only logs,
        but a task finished elsewhere stops the render (``TaskCancelled``)."""
        clip_id = str(result.get("id") or "")
        path = (result.get("files") or {}).get(PREVIEW_FILE)
        if not clip_id or not path:
            return
        seconds = (result.get("meta") or {}).get(PREVIEW_DURATION)
        try:
            with self._uow(read_only=True) as u:
                clip = u.clips.get(clip_id)
            if clip is None or clip.task_id != task_id or clip.status is not ClipStatus.STREAMING:
                return
            key = f"{outputs.prefix(clip_id)}/{PREVIEW_FILE}"
            self._storage.put_file(key, Path(path), _content_type(PREVIEW_FILE))
            outputs.previews[clip_id] = (str(path), key)
            with self._uow() as u:
                task = u.tasks.get(task_id, for_update=True)
                if task is None or task.status is not TaskStatus.IN_PROGRESS:
                    raise TaskCancelled(task_id)
                clip = u.clips.get(clip_id)
                if clip is None or clip.status is not ClipStatus.STREAMING:
                    return
                clip.files = {**clip.files, PREVIEW_FILE: key}
                clip.metadata = {
                    **clip.metadata,
                    PREVIEW_DURATION: float(seconds) if isinstance(seconds, int | float) else 0.0,
                }
                u.clips.update(clip)
                u.commit()
        except TaskCancelled:
            raise
        except Exception:
            log.warning("could not store the preview of clip %s", clip_id, exc_info=True)

    def _store(
        self,
        task: Task,
        clips: list[Clip],
        results: list[dict[str, Any]],
        outputs: _Outputs,
    ) -> list[Clip]:
        """Upload each result's files and fill its clip; results may add clips too."""
        by_id = {c.id: c for c in clips}
        spare = list(clips)
        out: list[Clip] = []
        for result in results:
            wanted = str(result.get("id") or "")
            clip = by_id.pop(wanted, None)
            if clip is not None:
                spare.remove(clip)
            elif spare:
                clip = spare.pop(0)
                by_id.pop(clip.id, None)
            else:
                # More results than clips: each extra one becomes a clip of its own.
                clip = Clip(id=new_id(), task_id=task.id, key_id=task.key_id)
            prefix = outputs.prefix(clip.id)
            stored: dict[str, str] = {}
            for name, path in (result.get("files") or {}).items():
                relative = _relative_name(str(name))
                storage_key = f"{prefix}/{_storage_name(relative)}"
                if outputs.previews.get(clip.id) != (str(path), storage_key):
                    self._storage.put_file(storage_key, Path(path), _content_type(relative))
                # else: the preview already stored is this very file, at this very key
                stored[relative] = storage_key
            meta = dict(result.get("meta") or {})
            meta.pop(PREVIEW_DURATION, None)
            # The final files replace the preview's: a complete clip plays its song.
            clip.files = stored
            clip.audio_key = stored.get(AUDIO_FILE, clip.audio_key)
            clip.image_key = stored.get(IMAGE_FILE, clip.image_key)
            clip.image_large_key = stored.get(IMAGE_LARGE_FILE, clip.image_large_key)
            clip.video_key = stored.get(VIDEO_FILE, clip.video_key)
            if meta.get("duration") is not None:
                clip.duration = float(meta["duration"])
            for name in ("title", "lyrics", "tags", "negative_tags", "prompt"):
                value = meta.get(name)
                if isinstance(value, str) and value:
                    setattr(clip, name, value)
            clip.metadata = {**clip.metadata, **meta}
            clip.metadata.pop(PREVIEW_DURATION, None)
            clip.status = ClipStatus.COMPLETE
            clip.error_message = ""
            out.append(clip)
        if not out:
            raise EngineError("the engine produced no result")
        return out

    def _finish(
        self, task_id: str, clips: list[Clip], outcome: dict[str, Any] | None = None
    ) -> bool:
        """Record the results and SUCCESS; False when the task was finished meanwhile."""
        with self._uow() as u:
            task = u.tasks.get(task_id, for_update=True)
            if task is None or task.status is not TaskStatus.IN_PROGRESS:
                return False
            known = {c.id for c in u.clips.list_for_tasks([task_id])}
            for clip in clips:
                if clip.id in known:
                    u.clips.update(clip)
                else:
                    u.clips.add(clip)
            for leftover in known - {c.id for c in clips}:
                unused = u.clips.get(leftover)
                if unused is not None:
                    unused.status = ClipStatus.ERROR
                    unused.error_message = "the engine produced no result for this clip"
                    u.clips.update(unused)
            if outcome is not None:
                task.result = outcome
            task.move_to(TaskStatus.SUCCESS)
            u.tasks.update(task)
            u.commit()
        return True

    def _discard(self, prefixes: list[str]) -> None:
        delete_prefixes(self._storage, prefixes)
