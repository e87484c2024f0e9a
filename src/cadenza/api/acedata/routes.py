"""Routes of the AceData dialect (seed 002): ``/suno/audios`` and ``/suno/tasks``.

A route reads the body, turns it into a command of ``services.commands`` and answers the
task the way the client asked: at once (``async: true`` or a ``callback_url``), when it
ends (the default; ``504 timeout`` past ``acedata_wait_s``, the task going on), or as an
ndjson stream of snapshots (``Accept: application/x-ndjson``). Errors come out in
AceData's envelope (``AceDataRoute``), never in sunocore's.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from cadenza.api.acedata.answers import (
    accepted_answer,
    audios_answer,
    batch_answer,
    callback_body,
    task_record,
)
from cadenza.api.acedata.document import documented
from cadenza.api.acedata.errors import AceDataError, acedata_router, error_response, trace_id_of
from cadenza.api.acedata.models import (
    AceDataAccepted,
    AceDataAudiosAnswer,
    AceDataSnapshot,
    AceDataTaskBatch,
    AceDataTaskRecord,
)
from cadenza.api.acedata.requests import (
    AudioAction,
    AudiosRequest,
    TaskBatchRequest,
    parse_audios,
    parse_tasks,
    wants_ndjson,
)
from cadenza.api.acedata.schemas import AudiosBody, TasksBody
from cadenza.api.deps import ContainerDep, CurrentKey, run_submit
from cadenza.api.documenting import json_body
from cadenza.api.guards import ErrorResponder
from cadenza.bootstrap import Container
from cadenza.domain.billing import ApiKey
from cadenza.domain.callbacks import Callback
from cadenza.domain.errors import InvalidInput, NotFound
from cadenza.domain.models import resolve_model
from cadenza.domain.moderation import moderator_for
from cadenza.domain.music import MusicRequest
from cadenza.domain.tasks import TaskView
from cadenza.net.policy import check_url
from cadenza.services import library, tasks
from cadenza.services.commands import (
    Concat,
    MakeMusic,
    Origin,
    Remaster,
    Submission,
)
from cadenza.services.commands_creative import (
    AddInstrumental,
    AddVocals,
    Inspire,
    Mashup,
    ReplaceSection,
    Samples,
)
from cadenza.services.commands_stems import SplitStems
from cadenza.services.views import UowViews

DIALECT = "acedata"
router = acedata_router()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
#: Longest pause between two looks at a waited-for task when no change notice comes.
_WAIT_SLICE_S = 15.0


async def read_json(request: Request) -> Any:
    """The decoded body; an empty body is ``{}`` (every field optional)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The request body is not valid JSON.") from None


def moderate(container: Container, req: AudiosRequest) -> None:
    """The operator's moderation lists, before anything is charged (403 ``forbidden``)."""
    moderator_for(container.settings.moderation_dir).check(
        description=req.description or req.lyrics_prompt,
        tags=req.tags,
        lyrics=req.lyrics,
        title=req.title,
    )


def register_callbacks(container: Container) -> None:
    """Teaches the callback outbox how this dialect's callbacks look (once per container):
    without it a ``callback_url`` task's delivery could never be rendered."""
    if DIALECT in container.callback_renderers:
        return
    storage = container.storage

    def render(view: TaskView) -> bytes:
        return callback_body(view, storage)

    container.callback_renderers.register(DIALECT, render)


def callback_of(container: Container, url: str | None) -> Callback | None:
    """The task's callback; a URL that can be refused without DNS is refused now (400),
    the rest at connect time, when it is delivered."""
    if not url:
        return None
    check_url(url, field="callback_url", allow_private=container.settings.allow_private_urls)
    return Callback(url, DIALECT)


def music_request(req: AudiosRequest) -> MusicRequest:
    """The engine's request for the song actions, built from AceData's fields directly
    (not through the guess between lyrics and a description that Suno's one ``prompt``
    field needs)."""
    spec = resolve_model(req.model_name)
    lyrics = req.lyrics if not req.instrumental else None
    if req.custom or lyrics is not None:
        description = None if lyrics is not None else req.lyrics_prompt
    else:
        description = req.description
    task = ""
    continue_clip = cover_clip = None
    if req.action in (AudioAction.EXTEND, AudioAction.UPLOAD_EXTEND):
        task, continue_clip = "extend", req.clip_id
    elif req.action in (AudioAction.COVER, AudioAction.UPLOAD_COVER):
        task, cover_clip = "cover", req.clip_id
    return MusicRequest(
        title=req.title,
        tags=req.tags,
        negative_tags=req.negative_tags,
        lyrics=lyrics,
        description=description,
        instrumental=req.instrumental,
        model=req.model_name,
        major_model_version=spec.major_version,
        max_duration_s=min(spec.max_duration_s, req.duration_s or spec.max_duration_s),
        vocal_gender=req.vocal_gender,
        weirdness=0.5 if req.weirdness is None else req.weirdness,
        style_influence=0.5 if req.style_influence is None else req.style_influence,
        seed=secrets.randbelow(2**31),
        persona_id=req.persona_id,
        task=task,
        continue_clip_id=continue_clip,
        continue_at=req.continue_at,
        cover_clip_id=cover_clip,
    )


_SONGS = frozenset(
    {
        AudioAction.GENERATE,
        AudioAction.EXTEND,
        AudioAction.UPLOAD_EXTEND,
        AudioAction.COVER,
        AudioAction.UPLOAD_COVER,
        AudioAction.ARTIST_CONSISTENCY,
        AudioAction.ARTIST_CONSISTENCY_VOX,
    }
)


def command_of(req: AudiosRequest) -> object:
    """The command an ``/suno/audios`` action asks for."""
    if req.action in _SONGS:
        return MakeMusic(music_request(req))
    if req.action is AudioAction.CONCAT and req.clip_id:
        return Concat(req.clip_id)
    if req.action is AudioAction.REMASTER and req.clip_id:
        return Remaster(req.clip_id, model=req.model_name, variation=req.variation)
    if req.action in (AudioAction.STEMS, AudioAction.ALL_STEMS) and req.clip_id:
        return SplitStems(req.clip_id, full=req.action is AudioAction.ALL_STEMS)
    if req.action is AudioAction.MASHUP:
        lyrics = None if req.instrumental else req.lyrics
        return Mashup(
            req.mashup_clip_ids,
            lyrics=lyrics,
            description=None if lyrics else (req.lyrics_prompt or req.description),
            instrumental=req.instrumental,
            tags=req.tags,
            title=req.title,
            model=req.model_name,
        )
    if req.action is AudioAction.INSPO:
        lyrics = None if req.instrumental else req.lyrics
        return Inspire(
            req.reference_urls,
            lyrics=lyrics,
            description=None if lyrics else (req.lyrics_prompt or req.description),
            instrumental=req.instrumental,
            tags=req.tags,
            title=req.title,
            model=req.model_name,
            vocal_gender=req.vocal_gender,
            audio_weight=req.audio_weight,
        )
    section = req.section
    if req.action is AudioAction.REPLACE_SECTION and req.clip_id and section is not None:
        return ReplaceSection(
            req.clip_id,
            section.start,
            section.end,
            lyrics=req.lyrics,
            infill_lyrics=req.description,
            tags=req.tags,
            title=req.title,
            model=req.model_name,
            vocal_gender=req.vocal_gender,
        )
    if req.action is AudioAction.SAMPLES and req.clip_id and section is not None:
        lyrics = None if req.instrumental else req.lyrics
        return Samples(
            req.clip_id,
            section.start,
            section.end,
            lyrics=lyrics,
            description=None if lyrics else (req.lyrics_prompt or req.description),
            instrumental=req.instrumental,
            tags=req.tags,
            title=req.title,
            model=req.model_name,
            vocal_gender=req.vocal_gender,
        )
    if req.action is AudioAction.OVERPAINTING and req.clip_id and section is not None:
        return AddVocals(
            req.clip_id,
            section.start,
            section.end,
            lyrics=req.lyrics,
            tags=req.tags,
            title=req.title,
            model=req.model_name,
            vocal_gender=req.vocal_gender,
        )
    if req.action is AudioAction.UNDERPAINTING and req.clip_id and section is not None:
        return AddInstrumental(
            req.clip_id,
            section.start,
            section.end,
            tags=req.tags,
            title=req.title,
            model=req.model_name,
        )
    raise AceDataError.not_implemented()


async def task_view(container: Container, key: ApiKey, task_id: str) -> TaskView:
    """The key's task with its clips and origin; another key's task is a missing one."""
    views = await run_in_threadpool(UowViews(container.uow).tasks, [task_id], key.id)
    if not views:
        raise NotFound(f"task {task_id} not found")
    return views[0]


async def changes(container: Container, task_id: str, seq: int, timeout_s: float) -> int:
    """Waits (at most ``timeout_s``) for the task's next events; the newest seq seen."""
    found = await container.event_waiter.wait_events(task_id, seq, timeout_s)
    return found[-1].seq if found else seq


async def finished_view(container: Container, key: ApiKey, task_id: str, wait_s: float) -> TaskView:
    """The task once it has ended, or as it stands when ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    seq = 0
    while True:
        view = await task_view(container, key, task_id)
        left = deadline - time.monotonic()
        if view.task.status.finished or left <= 0:
            return view
        seq = await changes(container, task_id, seq, min(left, _WAIT_SLICE_S))


def _status_of(body: Mapping[str, Any]) -> int:
    """A failed task answers with its error's status (the contract's table)."""
    if body.get("success") is not False:
        return 200
    code = (body.get("error") or {}).get("code")
    return 504 if code == "timeout" else 500


async def snapshots(
    container: Container, key: ApiKey, task_id: str, trace_id: str, wait_s: float
) -> AsyncIterator[bytes]:
    """One line per change of the task; the last (the task ended, or the wait ran out)
    carries the trace id."""
    deadline = time.monotonic() + wait_s
    storage = container.storage
    seq = 0
    last = b""
    while True:
        view = await task_view(container, key, task_id)
        left = deadline - time.monotonic()
        final = view.task.status.finished
        if not final and left <= 0:
            error = AceDataError.timeout(task_id)
            line = {
                "success": False,
                "task_id": task_id,
                "trace_id": trace_id,
                "error": {"code": error.code, "message": error.message},
            }
            yield json.dumps(line, ensure_ascii=False).encode() + b"\n"
            return
        body = audios_answer(view, storage, trace_id if final else None)
        text = json.dumps(body, ensure_ascii=False).encode() + b"\n"
        if text != last:
            yield text
            last = text
        if final:
            return
        seq = await changes(container, task_id, seq, min(left, _WAIT_SLICE_S))


@router.post(
    "/suno/audios",
    responses=documented(
        AceDataAudiosAnswer | AceDataAccepted,
        403,
        500,
        504,
        stream=AceDataSnapshot,
        description="the task's clips once it has ended (the default), or at once the "
        "accepted task (``async: true`` or a ``callback_url``)",
    ),
    openapi_extra=json_body(
        AudiosBody,
        name="AceDataAudiosBody",
        examples={
            "generate": {
                "action": "generate",
                "prompt": "a song about the sea",
                "model": "chirp-v4",
            },
            "custom": {
                "action": "generate",
                "custom": True,
                "lyric": "[Verse]\nThe tide comes in",
                "style": "folk",
                "title": "Tide",
                "model": "chirp-v4-5",
                "async": True,
            },
        },
    ),
)
async def audios(
    request: Request,
    key: CurrentKey,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Makes songs (``action``: generate, extend, cover, concat, remaster, ...) and answers
    when the task ends, at once (``async``, ``callback_url``) or as it goes (ndjson)."""
    raw = await read_json(request)
    req = parse_audios(raw)
    moderate(container, req)
    trace_id = trace_id_of(request.scope)
    how = Submission(
        origin=Origin(DIALECT, raw, trace_id),
        idempotency_key=idempotency_key,
        callback=callback_of(container, req.delivery.callback_url),
        fingerprint=raw,
    )
    if req.vox and req.persona_id:
        await run_in_threadpool(library.vox_persona, container.uow, key, req.persona_id)
    command = command_of(req)
    task = await run_submit(container, container.commands.submit, key, command, how)
    request.state.task_id = task.id
    wait_s = container.settings.acedata_wait_s
    if wants_ndjson(accept):
        return StreamingResponse(
            snapshots(container, key, task.id, trace_id, wait_s),
            media_type="application/x-ndjson",
        )
    if not req.delivery.waits:
        return JSONResponse(accepted_answer(task.id, trace_id))
    view = await finished_view(container, key, task.id, wait_s)
    if not view.task.status.finished:
        raise AceDataError.timeout(task.id)
    body = audios_answer(view, container.storage, trace_id)
    return JSONResponse(body, status_code=_status_of(body))


def _record(container: Container, view: TaskView) -> dict[str, Any]:
    origin = view.task.origin or {}
    return task_record(
        view,
        container.storage,
        request=origin.get("request"),
        trace_id=origin.get("trace_id"),
    )


def _moment(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)


def _listed(container: Container, key: ApiKey, req: TaskBatchRequest) -> list[TaskView]:
    if req.task_ids:
        return UowViews(container.uow).tasks(list(req.task_ids), key.id)
    return tasks.list_views(
        container.uow,
        key,
        limit=req.limit,
        offset=req.offset,
        submitted_after=_moment(req.created_after),
        submitted_before=_moment(req.created_before),
    )


@router.post(
    "/suno/tasks",
    responses=documented(
        AceDataTaskRecord | AceDataTaskBatch,
        description="``retrieve``: the task's record; ``retrieve_batch``: ``{items, count}``",
    ),
    openapi_extra=json_body(
        TasksBody,
        name="AceDataTasksBody",
        examples={
            "retrieve": {"action": "retrieve", "id": "<task_id>"},
            "retrieve_batch": {"action": "retrieve_batch", "limit": 5},
        },
    ),
)
async def retrieve_tasks(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    """``retrieve`` (the default): the bare record; ``retrieve_batch``: ``{items, count}``."""
    req = parse_tasks(await read_json(request))
    if isinstance(req, TaskBatchRequest):
        found = await run_in_threadpool(_listed, container, key, req)
        return JSONResponse(batch_answer([_record(container, view) for view in found]))
    request.state.task_id = req.task_id
    view = await task_view(container, key, req.task_id)
    return JSONResponse(_record(container, view))


def owns(path: str) -> bool:
    """Whether ``path`` is one of this dialect's routes (for errors answered before a
    route is chosen: a body over the size cap)."""
    return path in _PATHS


def body_error_for(scope: Scope) -> ErrorResponder | None:
    """The guards' error responder for this dialect's paths: its envelope and trace id."""
    if not owns(scope.get("path", "")):
        return None

    def respond(status: int, code: str, message: str) -> Response:
        return error_response(status, code, message, trace_id_of(scope))

    return respond


_PATHS: set[str] = {getattr(route, "path", "") for route in router.routes}


def claim_paths(paths: Iterable[str]) -> None:
    """Counts another AceData router's paths as this dialect's (``owns``)."""
    _PATHS.update(paths)
