"""Audio edits, uploads and videos: validation and submission of the tools' tasks.

Everything a client can get wrong is checked here, before any charge, so a bad request
answers 400 and changes nothing. The work itself runs on the task queue: in
``engines.tools`` (edits and uploads), ``engines.video`` (videos) and the compose engine
(remasters).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cadenza.audio.probe import MediaRejected, probe
from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.callbacks import Callback
from cadenza.domain.channels import is_relay_route
from cadenza.domain.errors import InvalidInput, NotFound, UpstreamUnavailable
from cadenza.domain.models import resolve_model
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, new_id, utcnow
from cadenza.domain.uploads import (
    UPLOAD_EXTENSIONS,
    Upload,
    UploadStatus,
    hash_token,
    safe_title,
)
from cadenza.services import tasks
from cadenza.services.ownership import owned
from cadenza.services.ports import MediaStorage, TaskQueue, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

MIN_SPEED = 0.25
MAX_SPEED = 4.0
#: Shortest result an edit may leave (seconds).
MIN_RESULT_S = 0.1
#: Longest extend chain a concat follows.
MAX_CHAIN = 64
MAX_TITLE = 200

#: Clip fields an edit copies from its source.
_COPIED = (
    "tags",
    "negative_tags",
    "prompt",
    "gpt_description_prompt",
    "lyrics",
    "model_name",
    "major_model_version",
)


# -- edits ----------------------------------------------------------------------------


def source_clip(uow: UnitOfWorkFactory, key: ApiKey, clip_id: str) -> Clip:
    """The key's complete clip with a WAV to edit; NotFound for other keys' clips."""
    if not clip_id:
        raise InvalidInput("clip_id is required")
    clip = tasks.get_clip(uow, key, clip_id)
    _check_editable(clip)
    return clip


def _check_editable(clip: Clip) -> None:
    if clip.status is not ClipStatus.COMPLETE:
        raise InvalidInput(f"clip {clip.id} is not complete yet")
    if "song.wav" not in clip.files:
        raise InvalidInput(f"clip {clip.id} has no audio to edit")
    if not clip.duration or clip.duration <= 0:
        raise InvalidInput(f"clip {clip.id} has no known duration")


def source_route(uow: UnitOfWorkFactory, clip: Clip) -> str | None:
    """The worker that made the source holds its files: follow-ups prefer it. A relayed
    song's files were mirrored into storage by whichever process followed it (an API
    process's relay lane, which takes no render tasks): any worker may use them."""
    with uow(read_only=True) as u:
        original = u.tasks.get(clip.task_id)
    if original is None or not original.worker or is_relay_route(original.route):
        return None
    return original.worker


def edited_clip(uow: UnitOfWorkFactory, key: ApiKey, clip_id: str, relay_route: str | None) -> Clip:
    """The clip an edit starts from: a relayed clip (``relay_route``, the channel that
    made it, which edits it there) needs no audio here; one made here does."""
    if relay_route is None:
        return source_clip(uow, key, clip_id)
    return tasks.get_clip(uow, key, clip_id)


def _submit_edit(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    action: Action,
    clip: Clip,
    params: dict[str, Any],
    clip_fields: dict[str, Any],
    *,
    idempotency_key: str | None,
    deadline_s: int,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    route: str | None = None,
) -> Task:
    """One new clip made from ``clip``, on the worker that holds the source's files
    (``route``: where else it must be made, e.g. the channel that made a relayed clip)."""
    return tasks.submit(
        uow,
        queue,
        key,
        action.value,
        params,
        clip_count=1,
        clip_fields=clip_fields,
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        route=route or source_route(uow, clip),
        origin=origin,
        callback=callback,
    )


def _clip_fields(clip: Clip, title: str) -> dict[str, Any]:
    fields: dict[str, Any] = {name: getattr(clip, name) for name in _COPIED}
    fields["title"] = title[:MAX_TITLE]
    return fields


def _number(value: object, name: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number")
    return number


def submit_crop(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    crop_start_s: object,
    crop_end_s: object,
    is_crop_remove: bool,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    relay_route: str | None = None,
) -> Task:
    """Keep ``[start, end)`` of the clip, or remove it and join the rest."""
    start = _number(crop_start_s, "crop_start_s")
    end = _number(crop_end_s, "crop_end_s")
    clip = edited_clip(uow, key, clip_id, relay_route)
    # A relayed clip's length is the upstream's word, where it gave one.
    duration = float(clip.duration or (end if relay_route else 0.0))
    if start < 0 or end <= start:
        raise InvalidInput("need 0 <= crop_start_s < crop_end_s")
    if end > duration + 1e-3:
        raise InvalidInput(f"crop_end_s is past the end of the clip ({duration:.3f} s)")
    end = min(end, duration)
    left = duration - (end - start) if is_crop_remove else end - start
    if left < MIN_RESULT_S:
        raise InvalidInput("the crop would leave almost no audio")
    name = f"{clip.title or 'Untitled'} (cropped)"[:MAX_TITLE]
    params = {
        "source_clip_id": clip.id,
        "files": dict(clip.files),
        "crop_start_s": start,
        "crop_end_s": end,
        "is_crop_remove": bool(is_crop_remove),
        "title": name,
    }
    return _submit_edit(
        uow,
        queue,
        key,
        Action.CROP,
        clip,
        params,
        _clip_fields(clip, name),
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
        route=relay_route,
    )


def submit_speed(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    speed_multiplier: object,
    keep_pitch: bool,
    title: str | None = None,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    relay_route: str | None = None,
) -> Task:
    """Play the clip faster or slower; ``keep_pitch`` time-stretches instead of resampling."""
    multiplier = _number(speed_multiplier, "speed_multiplier")
    if not MIN_SPEED <= multiplier <= MAX_SPEED:
        raise InvalidInput(f"speed_multiplier must be between {MIN_SPEED} and {MAX_SPEED}")
    clip = edited_clip(uow, key, clip_id, relay_route)
    name = ((title or "").strip() or f"{clip.title or 'Untitled'} ({multiplier:g}x)")[:MAX_TITLE]
    params = {
        "source_clip_id": clip.id,
        "files": dict(clip.files),
        "speed_multiplier": multiplier,
        "keep_pitch": bool(keep_pitch),
        "title": name,
    }
    return _submit_edit(
        uow,
        queue,
        key,
        Action.SPEED_ADJUST,
        clip,
        params,
        _clip_fields(clip, name),
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
        route=relay_route,
    )


def extend_parent(u: UnitOfWork, clip: Clip) -> tuple[str, float | None] | None:
    """The clip this one extends and where it continued, or None for a clip that is not an
    extension. Read from the clip's metadata, else from the request that made it."""
    parent = clip.metadata.get("continue_clip_id")
    at = clip.metadata.get("continue_at")
    if not parent:
        task = u.tasks.get(clip.task_id)
        request = task.params.get("request") if task is not None else None
        if isinstance(request, dict) and request.get("continue_clip_id"):
            parent = request.get("continue_clip_id")
            at = request.get("continue_at")
    if not parent or not isinstance(parent, str):
        return None
    try:
        cut = None if at is None else float(at)
    except (TypeError, ValueError):
        cut = None
    return parent, cut


@dataclass
class _Link:
    clip: Clip
    cut_s: float | None


def extend_chain(uow: UnitOfWorkFactory, key: ApiKey, clip: Clip) -> list[_Link]:
    """Root first; each part is used up to where its child continued, the last one whole."""
    links = [_Link(clip, None)]
    seen = {clip.id}
    with uow() as u:
        current = clip
        while True:
            found = extend_parent(u, current)
            if found is None:
                break
            parent_id, at = found
            if parent_id in seen or len(links) >= MAX_CHAIN:
                raise InvalidInput("the extend chain is too long or loops")
            parent = owned(u.clips.get(parent_id), key.id, "clip", parent_id)
            _check_editable(parent)
            if at is not None and not 0 < at <= float(parent.duration or 0) + 1e-3:
                raise InvalidInput(f"continue_at {at} is outside clip {parent_id}")
            links.insert(0, _Link(parent, at))
            seen.add(parent_id)
            current = parent
    return links


def submit_concat(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    is_infill: bool = False,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    relay_route: str | None = None,
) -> Task:
    """The whole song of an extend chain, as one clip with ``concat_history``. A relayed
    clip's chain is the upstream's: it joins it there (``relay_route``)."""
    clip = edited_clip(uow, key, clip_id, relay_route)
    if relay_route is not None:
        name = (clip.title or "Untitled")[:MAX_TITLE]
        params = {"source_clip_id": clip.id, "is_infill": bool(is_infill), "title": name}
    else:
        name, params = _concat_params(uow, key, clip, is_infill)
    return _submit_edit(
        uow,
        queue,
        key,
        Action.CONCAT,
        clip,
        params,
        _clip_fields(clip, name),
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
        route=relay_route,
    )


def _concat_params(
    uow: UnitOfWorkFactory, key: ApiKey, clip: Clip, is_infill: bool
) -> tuple[str, dict[str, Any]]:
    """The title and the parts of a concat made here, from the chain ending at ``clip``."""
    links = extend_chain(uow, key, clip)
    if len(links) < 2:
        raise InvalidInput("clip is not an extension")
    history: list[dict[str, Any]] = [
        {
            "continue_at": link.cut_s,
            "id": link.clip.id,
            "infill": bool(is_infill),
            "source": "web",
            "type": "upload" if link.clip.metadata.get("type") == "upload" else "gen",
        }
        for link in links[:-1]
    ]
    history.append({"id": clip.id})
    name = (links[0].clip.title or clip.title or "Untitled")[:MAX_TITLE]
    params = {
        "source_clip_id": clip.id,
        "parts": [
            {
                "clip_id": link.clip.id,
                "song_key": link.clip.files["song.wav"],
                "cut_s": link.cut_s,
                # Stems, lyrics and MIDI are joined like the song.
                "files": dict(link.clip.files),
            }
            for link in links
        ],
        "cover_files": {
            name: clip.files[name]
            for name in ("cover.png", "cover_large.png")
            if name in clip.files
        },
        "concat_history": history,
        "is_infill": bool(is_infill),
        "title": name,
    }
    return name, params


# -- uploads --------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadPolicy:
    max_bytes: int = 50 * 1024 * 1024
    ttl_s: int = 900
    max_duration_s: float = 480.0


def create_upload(
    uow: UnitOfWorkFactory, key: ApiKey, extension: str, policy: UploadPolicy
) -> tuple[Upload, str]:
    """A pending upload slot and its one-time token (returned once, stored hashed)."""
    ext = (extension or "").strip().lower().lstrip(".")
    if ext not in UPLOAD_EXTENSIONS:
        raise InvalidInput("extension must be one of " + ", ".join(sorted(UPLOAD_EXTENSIONS)))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    upload = Upload(
        id=new_id(),
        key_id=key.id,
        extension=ext,
        token_hash=hash_token(token),
        expires_at=now + timedelta(seconds=policy.ttl_s),
        created_at=now,
    )
    with uow() as u:
        u.uploads.add(upload)
        u.commit()
    return upload, token


def check_upload_token(
    uow: UnitOfWorkFactory, upload_id: str, token: str, key_id: str | None = None
) -> Upload:
    """The pending, unexpired upload this token opens; NotFound otherwise (one message for
    every reason, so the answer tells nothing about other keys' uploads)."""
    with uow() as u:
        upload = u.uploads.get(upload_id)
    refused = NotFound("upload not found, expired or already used")
    if (
        upload is None
        or not token
        or not secrets.compare_digest(upload.token_hash, hash_token(token))
    ):
        raise refused
    if key_id is not None and upload.key_id != key_id:
        raise refused
    if upload.status is not UploadStatus.PENDING or upload.expired():
        raise refused
    return upload


def store_upload(
    uow: UnitOfWorkFactory, storage: MediaStorage, upload: Upload, path: Path, size: int
) -> Upload:
    """Keep the received file and mark the slot used; a second upload loses the race."""
    storage_key = f"uploads/{upload.id}-{secrets.token_urlsafe(12)}/source.{upload.extension}"
    storage.put_file(storage_key, path, "application/octet-stream")
    with uow() as u:
        done = u.uploads.transition(
            upload.id,
            UploadStatus.PENDING,
            UploadStatus.UPLOADED,
            storage_key=storage_key,
            size=size,
        )
        u.commit()
    if not done:
        _forget(storage, storage_key)
        raise NotFound("upload not found, expired or already used")
    upload.status, upload.storage_key, upload.size = UploadStatus.UPLOADED, storage_key, size
    return upload


def _forget(storage: MediaStorage, storage_key: str) -> None:
    try:
        storage.delete_prefix(storage_key.rsplit("/", 1)[0] + "/")
    except Exception:
        log.warning("could not delete %s", storage_key, exc_info=True)


def submit_upload(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    storage: MediaStorage,
    key: ApiKey,
    *,
    upload_id: str,
    upload_filename: str,
    policy: UploadPolicy,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """Probe the uploaded file now (bad files answer 400, uncharged), then submit the task
    that decodes it into a clip. The upload is consumed exactly once."""
    with uow() as u:
        upload = u.uploads.get(upload_id) if upload_id else None
    if upload is None or upload.key_id != key.id:
        raise NotFound("upload not found")
    if upload.status is UploadStatus.PENDING:
        raise InvalidInput("nothing was uploaded for this upload_id yet")
    if upload.status is not UploadStatus.UPLOADED or not upload.storage_key:
        raise InvalidInput("this upload was already used")
    with tempfile.TemporaryDirectory(prefix="cadenza-upload-") as tmp:
        local = storage.fetch_to(upload.storage_key, Path(tmp) / "source")
        try:
            info = probe(local, max_bytes=policy.max_bytes, max_duration_s=policy.max_duration_s)
        except MediaRejected as exc:
            raise InvalidInput(exc.message) from exc
    title = safe_title(upload_filename)
    with uow() as u:
        claimed = u.uploads.transition(upload.id, UploadStatus.UPLOADED, UploadStatus.CONSUMED)
        u.commit()
    if not claimed:
        raise InvalidInput("this upload was already used")
    params = {
        "upload_id": upload.id,
        "storage_key": upload.storage_key,
        "format": info.format,
        "title": title,
        "max_bytes": policy.max_bytes,
        "max_duration_s": policy.max_duration_s,
    }
    try:
        return tasks.submit(
            uow,
            queue,
            key,
            Action.UPLOAD.value,
            params,
            clip_count=1,
            clip_fields={"title": title},
            deadline_s=deadline_s,
            idempotency_key=idempotency_key,
            origin=origin,
            callback=callback,
        )
    except BaseException:
        # Not charged (e.g. no credits): the client may try again with the same upload.
        with uow() as u:
            u.uploads.transition(upload.id, UploadStatus.CONSUMED, UploadStatus.UPLOADED)
            u.commit()
        raise


# -- videos ---------------------------------------------------------------------------

#: Clip metadata naming the MP4 task that renders (or rendered) the clip's video.
VIDEO_TASK_META = "video_task_id"
#: Most MP4 tasks one request submits while skipping tasks already known to have failed.
_VIDEO_SUBMITS = 3


@dataclass(frozen=True)
class VideoRequest:
    """Where a clip's video stands: its storage key once made, else the task making it."""

    clip: Clip
    video_key: str | None
    task: Task | None


def _video_params(clip: Clip) -> dict[str, Any]:
    audio_name = "song.wav" if "song.wav" in clip.files else "song.mp3"
    audio_key = clip.files.get(audio_name) or clip.audio_key
    cover_key = clip.files.get("cover_large.png") or clip.image_large_key or clip.image_key
    if not audio_key or not cover_key:
        raise InvalidInput(f"clip {clip.id} has no audio or cover to make a video of")
    return {
        "source_clip_id": clip.id,
        "audio_key": audio_key,
        "audio_name": audio_name,
        "cover_key": cover_key,
        "lyrics_key": clip.files.get("lyrics.json"),
        "duration": float(clip.duration or 0.0),
        "title": clip.title,
        "tags": clip.tags,
    }


def _submit_video(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    clip: Clip,
    previous: str | None,
    deadline_s: int,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> Task:
    """The clip's one MP4 task after ``previous`` (a failed one, or None at first).

    The idempotency key names the clip and the task it replaces, so concurrent requests,
    in any process, get the same task and the clip is charged once per attempt.
    """
    params = _video_params(clip)
    fields: dict[str, Any] = {
        "title": clip.title,
        "tags": clip.tags,
        "duration": clip.duration,
        "audio_key": clip.audio_key,
        "image_key": clip.image_key,
        "image_large_key": clip.image_large_key,
        "metadata": {"type": "video", "video_of_clip_id": clip.id},
    }
    route = source_route(uow, clip)
    task: Task | None = None
    for _ in range(_VIDEO_SUBMITS):
        task = tasks.submit(
            uow,
            queue,
            key,
            Action.MP4.value,
            params,
            clip_count=1,
            clip_fields=fields,
            idempotency_key=f"cadenza-mp4/{clip.id}/{previous or 'first'}",
            deadline_s=deadline_s,
            route=route,
            origin=origin,
            callback=callback,
        )
        if task.status is not TaskStatus.FAILURE:
            break
        previous = task.id  # an attempt this clip's record missed; it failed: go past it
    assert task is not None
    with uow() as u:
        current = u.clips.get(clip.id)
        if current is not None and current.metadata.get(VIDEO_TASK_META) != task.id:
            current.metadata = {**current.metadata, VIDEO_TASK_META: task.id}
            u.clips.update(current)
            u.commit()
    return task


def _link_video(uow: UnitOfWorkFactory, clip_id: str, task_id: str) -> Clip | None:
    """Give the source clip the video its finished MP4 task made (once; later calls read it)."""
    with uow() as u:
        source = u.clips.get(clip_id)
        if source is None or source.video_key:
            return source
        made = [c.video_key for c in u.clips.list_for_tasks([task_id]) if c.video_key]
        if not made:
            return None
        source.video_key = made[0]
        source.files = {**source.files, "video.mp4": made[0]}
        u.clips.update(source)
        u.commit()
    return source


def request_video(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    clip_id: str,
    *,
    deadline_s: int = 900,
    wait_s: float = 25.0,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> VideoRequest:
    """The clip's video, submitting its MP4 task (charged) on the first request and waiting
    for it up to ``wait_s``. A request while it renders waits on the same task, uncharged; a
    request after it failed (refunded) submits a new one."""
    from cadenza.services.waiting import wait_for_task

    clip = tasks.get_clip(uow, key, clip_id)
    if clip.video_key:
        made = clip.metadata.get(VIDEO_TASK_META)
        with uow(read_only=True) as u:
            done = u.tasks.get(made) if isinstance(made, str) and made else None
        return VideoRequest(clip, clip.video_key, done if done and done.key_id == key.id else None)
    if clip.status is not ClipStatus.COMPLETE or not clip.duration:
        raise InvalidInput(f"clip {clip.id} is not complete yet")
    _video_params(clip)  # a clip with nothing to show answers 400 before any charge
    task: Task | None = None
    recorded = clip.metadata.get(VIDEO_TASK_META)
    if isinstance(recorded, str) and recorded:
        with uow(read_only=True) as u:
            task = u.tasks.get(recorded)
        if task is not None and task.key_id != key.id:
            task = None
    if task is None or task.status is TaskStatus.FAILURE:
        task = _submit_video(
            uow, queue, key, clip, task.id if task else None, deadline_s, origin, callback
        )
    if not task.status.finished:
        task = wait_for_task(uow, task.id, wait_s) or task
    if task.status is TaskStatus.SUCCESS:
        linked = _link_video(uow, clip.id, task.id)
        if linked is None or not linked.video_key:
            raise UpstreamUnavailable("the video task finished without a video")
        return VideoRequest(linked, linked.video_key, task)
    if task.status is TaskStatus.FAILURE:
        log.warning("video of clip %s failed: %s", clip.id, task.fail_reason)
        raise UpstreamUnavailable("video rendering failed; the charge was refunded")
    return VideoRequest(clip, None, task)


# -- remaster -------------------------------------------------------------------------

#: How far a remaster may move from the original, mildest first.
REMASTER_VARIATIONS = ("subtle", "normal", "high")


def _remaster_model(name: str | None) -> str | None:
    """Remaster models (``chirp-carp``...) are their own names; a known generation model
    name is written the canonical way."""
    name = (name or "").strip()
    if not name:
        return None
    if len(name) > 64:
        raise InvalidInput("model_name is longer than 64 characters")
    try:
        return resolve_model(name).name
    except InvalidInput:
        return name


def _analysed_score(storage: MediaStorage | None, score_key: str) -> bool:
    """True for a score transcribed from audio (an upload's analysis): performing it again
    would replace the music with a rendition of its notes, not remaster it."""
    if storage is None:
        return False
    try:
        data = json.loads(storage.get_bytes(score_key))
    except Exception:
        # The engine reads it again and fails the task (refunded) with the reason.
        log.warning("could not read score %s", score_key, exc_info=True)
        return False
    extra = data.get("extra") if isinstance(data, dict) else None
    return isinstance(extra, dict) and bool(extra.get("analysed"))


def submit_upsample(
    uow: UnitOfWorkFactory,
    queue: TaskQueue,
    key: ApiKey,
    *,
    clip_id: str,
    model_name: str | None = None,
    variation_category: str | None = None,
    deadline_s: int = 900,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    callback: Callback | None = None,
    storage: MediaStorage | None = None,
    relay_route: str | None = None,
) -> Task:
    """A remastered copy of the clip ("<title> (Remastered)").

    A generated clip's score is performed again as an improved mix; a clip without one (an
    upload), or whose score was only transcribed from its audio, gets an audio mastering
    chain instead. The seed comes from the clip and the variation, so the same request gives
    the same remaster. A relayed clip (``relay_route``: the channel that made it) is
    remastered by its upstream, which alone has its parts.
    """
    variation = (variation_category or "normal").strip().lower()
    if variation not in REMASTER_VARIATIONS:
        raise InvalidInput("variation_category must be one of " + ", ".join(REMASTER_VARIATIONS))
    model = _remaster_model(model_name)
    # A relayed clip has no files here to check; its upstream picks its own default model.
    relayed = relay_route is not None
    clip = tasks.get_clip(uow, key, clip_id) if relayed else source_clip(uow, key, clip_id)
    score_key = clip.files.get("score.json")
    name = f"{clip.title or 'Untitled'} (Remastered)"[:MAX_TITLE]
    digest = hashlib.blake2b(f"cadenza/remaster/{clip.id}/{variation}".encode(), digest_size=4)
    params: dict[str, Any] = {
        "source_clip_id": clip.id,
        "variation_category": variation,
        "model_name": model or ("" if relayed else clip.model_name),
        "title": name,
        "seed": int.from_bytes(digest.digest(), "big") & 0x7FFF_FFFF,
    }
    if score_key and not _analysed_score(storage, score_key):
        params["source_score_key"] = score_key
    elif not relayed:
        params["audio_remaster"] = True
        params["files"] = {
            n: k
            for n, k in clip.files.items()
            if n in ("song.wav", "cover.png", "cover_large.png", "lyrics.json")
        }
    fields = _clip_fields(clip, name)
    if model:
        fields["model_name"] = model
    return _submit_edit(
        uow,
        queue,
        key,
        Action.UPSAMPLE,
        clip,
        params,
        fields,
        route=relay_route,
        idempotency_key=idempotency_key,
        deadline_s=deadline_s,
        origin=origin,
        callback=callback,
    )
