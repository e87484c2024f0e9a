"""Submitting and reading tasks: the one transaction that prices, charges and records work."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey, LedgerEntry
from cadenza.domain.callbacks import Callback
from cadenza.domain.channels import is_relay_route
from cadenza.domain.errors import (
    DuplicateLedgerEntry,
    Forbidden,
    IdempotencyConflict,
    IdempotencyKeyTaken,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from cadenza.domain.lyrics import build_lyrics_request
from cadenza.domain.music import MusicRequest, build_music_request
from cadenza.domain.tasks import (
    PREVIEW_DURATION,
    PREVIEW_FILE,
    Clip,
    ClipStatus,
    Task,
    TaskStatus,
    TaskView,
    new_id,
    utcnow,
)
from cadenza.services.billing import charge_and_commit, refund
from cadenza.services.ownership import owned_clip, owned_persona
from cadenza.services.ports import MediaStorage, TaskQueue, UnitOfWork, UnitOfWorkFactory, Views

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY = 255
#: Ids one batch poll may ask for: a gateway polls a whole channel at once (new-api sends
#: up to 1000), with room to spare.
MAX_FETCH_IDS = 2000
MAX_DEADLINE_S = 7 * 24 * 3600
MAX_FAIL_REASON = 500
#: The task parameter naming storage folders fetched for the task alone (inspo's references).
INPUT_FOLDERS = "input_folders"

#: Clip fields a submit may preset; the rest belong to the server.
CLIP_PRESETS = frozenset(
    f.name for f in fields(Clip) if f.name not in ("id", "task_id", "key_id", "status")
)


def request_hash(action: str, params: dict[str, Any]) -> str:
    """Fingerprint of a request body, to tell an idempotent retry from a different request."""
    body = json.dumps(
        {"action": str(action), "params": params},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def checked_idempotency_key(value: str | None) -> str | None:
    """The client's Idempotency-Key as stored: trimmed, None when blank, refused when
    longer than the column holds."""
    key = (value or "").strip() or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters")
    return key


def submit(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    action: str,
    params: dict[str, Any],
    *,
    clip_count: int = 0,
    clip_fields: dict[str, Any] | None = None,
    each_clip: Sequence[dict[str, Any]] | None = None,
    idempotency_key: str | None = None,
    deadline_s: int = 900,
    route: str | None = None,
    request: dict[str, Any] | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """Charge for and record one task, then hand it to the queue.

    ``request`` is the body as the client sent it, when ``params`` holds values the server
    drew (a random seed): an idempotent retry is recognised by what the client sent.
    ``each_clip`` (one dict per clip, in order) presets fields that differ between the
    clips, such as the title of each stem, so even a pending clip shows them.
    """
    if clip_count < 0:
        raise ValueError("clip_count must not be negative")
    if each_clip is not None and len(each_clip) != clip_count:
        raise ValueError("each_clip needs one entry per clip")
    return _submit(
        uow,
        queue,
        key,
        str(action),
        params,
        clip_ids=[new_id() for _ in range(clip_count)],
        clip_fields=clip_fields or {},
        each_clip=each_clip,
        idempotency_key=idempotency_key,
        fingerprint=request_hash(action, params if request is None else request),
        deadline_s=deadline_s,
        route=route,
        origin=origin,
        callback=callback,
    )


def submit_music(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    params: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    deadline_s: int = 900,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """A music task from generic parameters (``build_music_request``'s names)."""
    return submit_music_request(
        uow,
        queue,
        key,
        build_music_request(params),
        fingerprint=request_hash(Action.MUSIC.value, params),
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
    )


def submit_music_request(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    req: MusicRequest,
    *,
    fingerprint: str,
    idempotency_key: str | None = None,
    deadline_s: int = 900,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    route: str | None = None,
) -> Task:
    """A music task: two clips, as Suno makes. Follow-ups prefer the original's worker.
    ``fingerprint`` identifies the request as the client sent it (its built form holds a
    random seed when none was given), to recognise an idempotent retry. ``route`` sends
    it elsewhere than the render queue (an upstream channel)."""
    score_key: str | None = None
    if is_relay_route(route):
        pass  # its source (checked by ``relayed_source``) lives upstream
    elif req.persona_id or req.continue_clip_id or req.cover_clip_id:
        req, source_route, score_key = _with_sources(uow, key, req)
        route = route or source_route
    clip_ids = [new_id(), new_id()]
    clip_fields = {
        "title": req.title,
        "tags": req.tags,
        "negative_tags": req.negative_tags,
        "prompt": req.lyrics or "",
        "gpt_description_prompt": req.description or "",
        "lyrics": req.lyrics or "",
        "model_name": req.model,
        "major_model_version": req.major_model_version,
    }
    return _submit(
        uow,
        queue,
        key,
        Action.MUSIC.value,
        # Extend and cover edit the source clip's score: the engine reads it from storage.
        {
            "request": req.to_dict(),
            "clip_ids": clip_ids,
            **({"source_score_key": score_key} if score_key else {}),
        },
        clip_ids=clip_ids,
        clip_fields=clip_fields,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        deadline_s=deadline_s,
        route=route,
        origin=origin,
        callback=callback,
    )


def submit_lyrics(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    params: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    deadline_s: int = 900,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    route: str | None = None,
) -> Task:
    """A lyrics task: a title and sectioned lyrics for a description, as its result;
    ``route`` sends it to an upstream channel."""
    req = build_lyrics_request(params)
    return submit(
        uow,
        queue,
        key,
        Action.LYRICS,
        {"request": req.to_dict()},
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        route=route,
        request=params,
        origin=origin,
        callback=callback,
    )


def relayed_source(uow: UnitOfWorkFactory, key: ApiKey, clip_id: str) -> str | None:
    """The channel that made the key's clip ``clip_id`` (None: it was made here); a clip
    not complete yet is refused, as for any edit."""
    with uow(read_only=True) as u:
        clip = owned_clip(u, key.id, clip_id)
        relay = u.relays.get(clip.task_id)
    if relay is None or clip_id not in relay.clips:
        return None
    if clip.status is not ClipStatus.COMPLETE:
        raise InvalidInput(f"clip {clip_id} is not complete yet")
    return relay.channel_id


def _with_sources(
    uow: UnitOfWorkFactory, key: ApiKey, req: MusicRequest
) -> tuple[MusicRequest, str | None, str | None]:
    """The request with its persona resolved, the worker that made its source clip (a
    follow-up runs there), and the source's score; a plain song reads none of them."""
    route: str | None = None
    score_key: str | None = None
    with uow(read_only=True) as u:
        if req.persona_id:
            persona = owned_persona(u, key.id, req.persona_id)
            req = dataclasses.replace(req, persona=persona.request_payload())
        for clip_id in (req.continue_clip_id, req.cover_clip_id):
            if not clip_id:
                continue
            source = owned_clip(u, key.id, clip_id)
            if source.status is not ClipStatus.COMPLETE:
                raise InvalidInput(f"clip {clip_id} is not complete yet")
            if not source.files.get("score.json"):
                # Refused before any charge: the engine can only edit a score.
                raise InvalidInput(
                    f"clip {clip_id} has no score to extend or cover"
                    " (an upload from before audio analysis: upload it again)"
                )
            score_key = score_key or source.files.get("score.json")
            original = u.tasks.get(source.task_id)
            if route is None and original is not None and original.worker:
                route = original.worker
    return req, route, score_key


def _submit(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    action: str,
    params: dict[str, Any],
    *,
    clip_ids: list[str],
    clip_fields: dict[str, Any],
    idempotency_key: str | None,
    fingerprint: str,
    deadline_s: int,
    route: str | None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    each_clip: Sequence[dict[str, Any]] | None = None,
) -> Task:
    if not 1 <= deadline_s <= MAX_DEADLINE_S:
        raise InvalidInput(f"deadline must be between 1 and {MAX_DEADLINE_S} seconds")
    idempotency_key = checked_idempotency_key(idempotency_key)
    unknown = set(clip_fields).union(*(each_clip or ())) - CLIP_PRESETS
    if unknown:
        raise ValueError(f"unknown clip fields: {sorted(unknown)}")

    for _ in range(3):
        try:
            task = _record(
                uow,
                queue,
                key,
                action,
                params,
                clip_ids,
                [{**clip_fields, **extra} for extra in each_clip or [{}] * len(clip_ids)],
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                deadline_s=deadline_s,
                route=route,
                origin=origin,
                callback=callback,
            )
            break
        except IdempotencyKeyTaken:
            assert idempotency_key is not None
            existing = _idempotent_answer(uow, key, idempotency_key, fingerprint)
            if existing is not None:
                return existing
            # The task that held it was rolled back meanwhile: try again.
    else:
        raise IdempotencyConflict("this Idempotency-Key is in use by a request still running")
    if task.dispatched:
        _enqueue_recorded(uow, queue, task)
    else:
        dispatch(uow, queue, task)
    return task


def _record(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    action: str,
    params: dict[str, Any],
    clip_ids: list[str],
    clip_fields: list[dict[str, Any]],
    *,
    idempotency_key: str | None,
    fingerprint: str,
    deadline_s: int,
    route: str | None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """The submit's one transaction. The key's row is locked from the concurrency check to
    the commit, so a key's submits are counted and charged one at a time; everything that
    needs no lock (the price, the task and its clips) is sent before it, and the locked
    part travels with the commit (``charge_and_commit``), which keeps the time a gateway's
    key is held short. A reused Idempotency-Key is caught by the database's unique index
    at the insert (``IdempotencyKeyTaken``)."""
    with uow() as u:
        price = u.prices.current(action)
        now = utcnow()
        task = Task(
            id=new_id(),
            key_id=key.id,
            action=action,
            params=params,
            price=price.price if price is not None else Decimal(0),
            status=TaskStatus.QUEUED,
            submit_time=now,
            deadline=now + timedelta(seconds=deadline_s),
            route=route,
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            origin=origin,
            callback_url=callback.url if callback else None,
            callback_dialect=callback.dialect if callback else None,
        )
        holder = queue.instance
        if holder is not None:
            # A queue whose death the reaper can see: the task is recorded as handed to it
            # now, in this transaction. Should this process die before the enqueue after
            # the commit, the reaper hands the task out again, as it does every task of a
            # dead queue.
            task.dispatched = True
            task.queue_instance = holder
        clips = [
            Clip(
                id=clip_id,
                task_id=task.id,
                key_id=key.id,
                status=ClipStatus.QUEUED,
                created_at=now,
                **fields,
            )
            for clip_id, fields in zip(clip_ids, clip_fields, strict=True)
        ]
        # Refusals come after the insert, so a retry under a used Idempotency-Key gets its
        # task (``IdempotencyKeyTaken``) whatever has changed since; they roll it back.
        if price is None or not price.enabled:
            u.tasks.add(task)
            raise Forbidden(f"action {action} is not available")
        with u.batch():
            u.tasks.add(task)
            u.clips.add_many(clips)
        charge_and_commit(u, task, limit_active=True)
    return task


def _idempotent_answer(
    uow: UnitOfWorkFactory, key: ApiKey, idempotency_key: str, fingerprint: str
) -> Task | None:
    """The task an earlier submit made with this Idempotency-Key (None if there is none
    any more); a different request under the same key is a conflict."""
    with uow(read_only=True) as u:
        current = u.keys.get(key.id)
        if current is None or current.revoked:
            raise Unauthorized("invalid or missing API key")
        existing = u.tasks.find_by_idempotency(key.id, idempotency_key)
    if existing is not None and existing.request_hash != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was already used with a different request")
    return existing


def _enqueue_recorded(uow: UnitOfWorkFactory, queue: TaskQueue, task: Task) -> None:
    """Enqueue a task recorded as dispatched at submit; if the queue refuses it, record it
    as not dispatched, so the reaper dispatches it (one more transaction, rarely)."""
    try:
        queue.enqueue(task.id, route=task.route)
        return
    except Exception:
        log.warning("enqueue failed; the reaper will dispatch task %s", task.id, exc_info=True)
    try:
        with uow() as u:
            fresh = u.tasks.get(task.id, for_update=True)
            if fresh is not None and fresh.status is TaskStatus.QUEUED:
                fresh.dispatched = False
                fresh.queue_instance = None
                u.tasks.update(fresh)
                u.commit()
    except Exception:
        # Left recorded as held by this queue: should this queue die, the reaper takes it.
        log.warning("could not record task %s as not dispatched", task.id, exc_info=True)
    task.dispatched = False
    task.queue_instance = None


def dispatch(uow: UnitOfWorkFactory, queue: TaskQueue, task: Task) -> bool:
    """Enqueue and record it (and which in-process queue holds it); on failure the task
    waits for the reaper to try again."""
    holder = queue.instance
    try:
        queue.enqueue(task.id, route=task.route)
    except Exception:
        log.warning("enqueue failed; the reaper will dispatch task %s", task.id, exc_info=True)
        return False
    try:
        with uow() as u:
            fresh = u.tasks.get(task.id, for_update=True)
            # The worker may have claimed it already (and marked it dispatched).
            if fresh is not None and (not fresh.dispatched or fresh.queue_instance != holder):
                fresh.dispatched = True
                fresh.queue_instance = holder
                u.tasks.update(fresh)
                u.commit()
    except Exception:
        # Enqueued but not recorded: a second delivery later is harmless (workers are
        # idempotent), so this is not an error for the caller.
        log.warning("could not mark task %s dispatched", task.id, exc_info=True)
    task.dispatched = True
    task.queue_instance = holder
    return True


def fetch(views: Views, key: ApiKey, task_ids: Sequence[str]) -> list[TaskView]:
    """The key's tasks among ``task_ids``, in the order asked; others are left out."""
    wanted = list(dict.fromkeys(str(i) for i in task_ids if i))
    if len(wanted) > MAX_FETCH_IDS:
        raise InvalidInput(f"at most {MAX_FETCH_IDS} task ids per fetch")
    if not wanted:
        return []
    return views.tasks(wanted, key.id)


def revisions(views: Views, key: ApiKey, task_ids: Sequence[str]) -> dict[str, int]:
    """The revisions of the key's tasks among ``task_ids`` (others left out)."""
    wanted = list(dict.fromkeys(str(i) for i in task_ids if i))
    if len(wanted) > MAX_FETCH_IDS:
        raise InvalidInput(f"at most {MAX_FETCH_IDS} task ids per fetch")
    return views.revisions(wanted, key.id) if wanted else {}


def revision(views: Views, key: ApiKey, task_id: str) -> int:
    """Another key's task is the same 404 as a missing one."""
    found = views.revisions([task_id], key.id)
    if task_id not in found:
        raise NotFound("task not found")
    return found[task_id]


def get(views: Views, key: ApiKey, task_id: str) -> TaskView:
    """Another key's task is the same 404 as a missing one."""
    found = views.tasks([task_id], key.id)
    if not found:
        raise NotFound("task not found")
    return found[0]


def list_views(
    uow: UnitOfWorkFactory,
    key: ApiKey,
    *,
    limit: int,
    offset: int = 0,
    submitted_after: datetime | None = None,
    submitted_before: datetime | None = None,
) -> list[TaskView]:
    """The key's tasks with their clips, newest first."""
    with uow(read_only=True) as u:
        found = u.tasks.list_for_key(
            key.id,
            limit=limit,
            offset=offset,
            submitted_after=submitted_after,
            submitted_before=submitted_before,
        )
        clips = u.clips.list_for_tasks([task.id for task in found])
    by_task: dict[str, list[Clip]] = {}
    for clip in clips:
        by_task.setdefault(clip.task_id, []).append(clip)
    return [TaskView(task, by_task.get(task.id, [])) for task in found]


def get_clip(uow: UnitOfWorkFactory, key: ApiKey, clip_id: str) -> Clip:
    with uow(read_only=True) as u:
        return owned_clip(u, key.id, clip_id)


def fail_task(
    u: UnitOfWork, task: Task, reason: str, now: datetime | None = None, *, with_refund: bool = True
) -> LedgerEntry | None:
    """FAILURE, clips in error, and the refund, inside the caller's transaction.

    ``task`` must have been read with ``for_update`` and be unfinished.
    """
    reason = reason.strip()[:MAX_FAIL_REASON] or "failed"
    task.fail_reason = reason
    task.move_to(TaskStatus.FAILURE, now)
    for clip in u.clips.list_for_tasks([task.id]):
        if clip.status is not ClipStatus.COMPLETE:
            clip.status = ClipStatus.ERROR
            clip.error_message = reason
            # A failed run's files are deleted (``TaskRunner``): its preview goes too.
            clip.files.pop(PREVIEW_FILE, None)
            clip.metadata.pop(PREVIEW_DURATION, None)
            u.clips.update(clip)
    u.tasks.update(task)  # last: the task's final event follows its clips'
    return refund(u, task, now) if with_refund else None


def input_folders(task: Task) -> list[str]:
    """Storage folders that only this task reads: nothing needs them once it has ended,
    so whoever ends it deletes them (a task that never ran keeps nothing either)."""
    found = task.params.get(INPUT_FOLDERS) or []
    return [f for f in map(str, found) if f.endswith("/") and f.strip("/")]


def delete_prefixes(storage: MediaStorage, prefixes: Iterable[str]) -> None:
    """Delete what a task leaves behind; a failure is logged, never raised: the task has
    ended either way, and storage that is down now must not change how."""
    for prefix in prefixes:
        try:
            storage.delete_prefix(prefix)
        except Exception:
            log.warning("could not delete %s", prefix, exc_info=True)


def settle_failure(
    uow: UnitOfWorkFactory,
    task_id: str,
    reason: str,
    now: datetime | None = None,
    *,
    only_if_expired: bool = False,
) -> bool:
    """Fail an unfinished task and refund it once; False when someone else finished it first."""
    with_refund = True
    for _ in range(2):
        try:
            with uow() as u:
                task = u.tasks.get(task_id, for_update=True)
                if task is None or task.status.finished:
                    return False
                moment = now or utcnow()
                if only_if_expired and (task.deadline is None or task.deadline >= moment):
                    return False
                fail_task(u, task, reason, moment, with_refund=with_refund)
                u.commit()
                return True
        except DuplicateLedgerEntry:
            # Refunded already (the database refused a second one): fail it without.
            log.warning("task %s was already refunded", task_id)
            with_refund = False
    return False
