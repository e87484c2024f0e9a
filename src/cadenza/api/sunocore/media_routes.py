"""Routes of seed 000 for audio edits (crop, speed, concat), uploads and music videos.

Edits and upload processing are tasks: they answer ``{"code":"success","message":"",
"data":"<task_id>"}`` and are polled like music. The upload endpoint works like an S3
presigned POST: a multipart form with the returned ``fields`` first and ``file`` last.
A music video is a task too, which the route waits for up to a bound.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import weakref
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import APIRouter, Body, Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from cadenza.api.deps import ContainerDep, CurrentKey, look_up, read_secret
from cadenza.api.openapi import documented
from cadenza.api.sunocore.answers import (
    TaskIdAnswer,
    UploadReceivedAnswer,
    UploadSlotAnswer,
    VideoAnswer,
)
from cadenza.api.sunocore.media_schemas import (
    UPLOAD_FORM,
    AudioUrlBody,
    ConcatBody,
    CreateUploadBody,
    CropBody,
    SpeedBody,
)
from cadenza.api.sunocore.routes import IdempotencyKey, submission
from cadenza.api.sunocore.schemas import ok
from cadenza.bootstrap import Container
from cadenza.domain.errors import InvalidInput, NotFound
from cadenza.domain.uploads import Upload
from cadenza.services import keys as key_service
from cadenza.services import media
from cadenza.services.commands import Concat
from cadenza.services.commands_edits import Crop, ImportUpload, SpeedAdjust
from cadenza.services.commands_media import RenderVideo
from cadenza.services.waiting import wait_for_task
from cadenza.storage import public_base

router = APIRouter()
log = logging.getLogger(__name__)

#: Requests that wait for a task (wait_audio, videos) block a thread each while they wait;
#: they get threads of their own so that many of them never starve the other routes.
WAITING_REQUESTS = 64
_waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _waiting_limiter() -> CapacityLimiter:
    """One limiter per event loop (a limiter belongs to the loop that made it)."""
    loop = asyncio.get_running_loop()
    limiter = _waiting.get(loop)
    if limiter is None:
        limiter = _waiting[loop] = CapacityLimiter(WAITING_REQUESTS)
    return limiter


#: Largest non-file form field, and most fields, an upload form may carry.
MAX_FIELD_BYTES = 4096
MAX_FIELDS = 16


def upload_policy(container: Container) -> media.UploadPolicy:
    settings = container.settings
    return media.UploadPolicy(
        max_bytes=settings.upload_max_bytes,
        ttl_s=settings.upload_ttl_s,
        max_duration_s=settings.upload_max_duration_s,
    )


@router.post("/api/crop", responses=documented(TaskIdAnswer, 402, 403, 404))
def crop(
    body: Annotated[CropBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = Crop(body.song_id, body.crop_start_s, body.crop_end_s, remove=body.is_crop_remove)
    return ok(container.commands.submit(key, command, submission(idempotency_key)).id)


@router.post("/suno/submit/speed-adjust", responses=documented(TaskIdAnswer, 402, 403, 404))
def speed_adjust(
    body: Annotated[SpeedBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = SpeedAdjust(
        body.clip_id, body.speed_multiplier, keep_pitch=body.keep_pitch, title=body.title
    )
    return ok(container.commands.submit(key, command, submission(idempotency_key)).id)


@router.post("/suno/submit/concat", responses=documented(TaskIdAnswer, 402, 403, 404))
def concat(
    body: Annotated[ConcatBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = Concat(body.clip_id, is_infill=body.is_infill)
    return ok(container.commands.submit(key, command, submission(idempotency_key)).id)


@router.post("/suno/api/create_audio_upload", responses=documented(UploadSlotAnswer))
def create_audio_upload(
    body: Annotated[CreateUploadBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
) -> dict[str, Any]:
    upload, token = media.create_upload(
        container.uow, key, body.extension, upload_policy(container)
    )
    base = public_base.resolve(container.settings.resolved_public_url())
    return ok(
        {
            "upload_id": upload.id,
            "url": f"{base}/suno/uploads/{upload.id}",
            "fields": {"upload_id": upload.id, "token": token},
            "max_bytes": container.settings.upload_max_bytes,
            "expires_at": int(upload.expires_at.timestamp()),
        }
    )


class _Form:
    """Streaming multipart state: small fields in memory, ``file`` straight to disk."""

    def __init__(self, dest: Path, max_bytes: int) -> None:
        self.fields: dict[str, str] = {}
        self.dest = dest
        self.max_bytes = max_bytes
        self.size = 0
        self.file_seen = False
        self.file_done = False
        self.verified = False
        self._handle = dest.open("wb")
        self._header_name = b""
        self._header_value = b""
        self._part_name: str | None = None
        self._is_file = False
        self._value = bytearray()

    def close(self) -> None:
        self._handle.close()

    def parser(self, boundary: bytes) -> MultipartParser:
        callbacks: Any = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        return MultipartParser(boundary, callbacks)

    def _part_begin(self) -> None:
        self._part_name, self._is_file, self._value = None, False, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            _, options = parse_options_header(self._header_value)
            name = options.get(b"name")
            self._part_name = name.decode("utf-8", "replace") if name else None
            self._is_file = self._part_name == "file"
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        if self._is_file:
            if self.file_seen:
                raise InvalidInput("send exactly one file")
            if "token" not in self.fields:
                raise InvalidInput("the form's fields must come before the file")
            self.file_seen = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.size += end - start
            if self.size > self.max_bytes:
                raise InvalidInput(f"the file is larger than {self.max_bytes // (1024 * 1024)} MB")
            self._handle.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise InvalidInput("a form field is too long")

    def _part_end(self) -> None:
        if self._is_file:
            self.file_done = True
        elif self._part_name:
            if len(self.fields) >= MAX_FIELDS:
                raise InvalidInput("too many form fields")
            self.fields[self._part_name] = self._value.decode("utf-8", "replace")


async def _uploader_key_id(request: Request, container: Container) -> str | None:
    """A key sent with the upload must be the owner's; the token alone also suffices."""
    secret = read_secret(request)
    if not secret:
        return None
    views = container.views
    key = await look_up(views.inline, key_service.authenticate, views, secret)
    return key.id


@router.post("/suno/uploads/audio-url", responses=documented(TaskIdAnswer, 402, 403, 404))
async def upload_audio_url(
    body: Annotated[AudioUrlBody, Body()],
    key: CurrentKey,
    container: ContainerDep,
) -> dict[str, Any]:
    """Probes the upload synchronously (bad files: 400, no charge), then submits the task.

    With ``wait_audio`` (the default) it answers once the task has ended, or after
    ``wait_audio_s``, so a fetch right after shows SUCCESS (or FAILURE, refunded, with the
    reason); either way the answer is the task id.
    """
    command = ImportUpload(body.upload_id, body.upload_filename)
    task = await run_in_threadpool(container.commands.submit, key, command, submission(None))
    if body.wait_audio and not task.status.finished:
        try:
            await anyio.to_thread.run_sync(
                partial(wait_for_task, container.uow, task.id, container.settings.wait_audio_s),
                limiter=_waiting_limiter(),
            )
        except Exception:
            # The task is submitted and charged: its id must reach the client, who polls.
            log.warning("waiting for upload task %s failed", task.id, exc_info=True)
    return ok(task.id)


@router.get("/suno/act/mp4/{clip_id}", responses=documented(VideoAnswer, 400, 402, 403))
async def clip_video(clip_id: str, key: CurrentKey, container: ContainerDep) -> dict[str, Any]:
    """The first call submits the MP4 task (charged once) and waits up to ``video_wait_s``:
    the video's URL when done, else ``status: "processing"`` and the ``task_id`` to poll.
    Later calls answer the stored video at once, free; after a failure (refunded) the next
    call tries again."""
    if not clip_id or len(clip_id) > 64:
        raise NotFound("clip not found")
    command = RenderVideo(clip_id, wait_s=container.settings.video_wait_s)
    done = await anyio.to_thread.run_sync(
        container.commands.run, key, command, submission(None), limiter=_waiting_limiter()
    )
    video = done.made
    if video.video_key is None:
        return ok(
            {
                "clip_id": video.clip.id,
                "video_url": None,
                "status": "processing",
                "task_id": video.task.id if video.task is not None else None,
            }
        )
    return ok({"clip_id": video.clip.id, "video_url": container.storage.url(video.video_key)})


@router.post(
    "/suno/uploads/{upload_id}",
    responses=documented(UploadReceivedAnswer, 400, 401, 502),
    openapi_extra={"requestBody": UPLOAD_FORM},
)
async def receive_upload(upload_id: str, request: Request) -> dict[str, Any]:
    """The presigned upload target: fields (``token``) first, then ``file``; single use."""
    container: Container = request.app.state.container
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InvalidInput("send a multipart/form-data form")
    key_id = await _uploader_key_id(request, container)
    max_bytes = container.settings.upload_max_bytes
    upload: Upload | None = None
    with tempfile.TemporaryDirectory(prefix="cadenza-recv-") as tmp:
        form = _Form(Path(tmp) / "file", max_bytes)
        try:
            parser = form.parser(boundary)
            async for chunk in request.stream():
                parser.write(chunk)
                if upload is None and "token" in form.fields:
                    upload = await run_in_threadpool(
                        media.check_upload_token,
                        container.uow,
                        upload_id,
                        form.fields["token"],
                        key_id,
                    )
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidInput("the multipart form is malformed") from exc
        finally:
            form.close()
        if upload is None:
            raise InvalidInput("the form has no token field")
        if not form.file_done:
            raise InvalidInput("the form has no file")
        if form.size == 0:
            raise InvalidInput("the file is empty")
        stored = await run_in_threadpool(
            media.store_upload, container.uow, container.storage, upload, form.dest, form.size
        )
    return ok({"upload_id": stored.id, "size": stored.size, "status": stored.status.value})
