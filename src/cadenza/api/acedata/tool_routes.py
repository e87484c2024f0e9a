"""The auxiliary endpoints of the AceData dialect (contract §4): lyrics, upload, personas,
voices, vocal excerpts, MP4, timing, WAV, MIDI, style tags and merged lyrics.

Each route reads its body with ``requests``, hands a command of ``services.commands`` (or
``services.commands_media``) to ``Commands.submit`` and answers the task the command ran
or queued: ``{success, task_id, trace_id, data}`` with the tool's data, rendered by
``answers.task_data`` as ``/suno/tasks`` and callbacks render it too. Where a body may ask
for it (``async: true``, ``callback_url``), the answer comes at once with ``data: []``;
otherwise the route waits for the task (``504 timeout`` past ``acedata_wait_s``, the task
going on). Persona listing and deletion are reads and writes of the library, not tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from cadenza.api.acedata import routes
from cadenza.api.acedata.answers import accepted_answer, audios_answer, persona_list_answer
from cadenza.api.acedata.document import documented
from cadenza.api.acedata.errors import AceDataError, acedata_router, trace_id_of
from cadenza.api.acedata.models import (
    AceDataAccepted,
    AceDataAnswer,
    AceDataDeleted,
    AceDataFile,
    AceDataLyrics,
    AceDataMidi,
    AceDataPersonaList,
    AceDataPersonaMade,
    AceDataStyle,
    AceDataTiming,
    AceDataUpload,
    AceDataVideo,
    AceDataVox,
)
from cadenza.api.acedata.requests import (
    ClipTool,
    Delivery,
    parse_clip_tool,
    parse_lyrics,
    parse_mashup_lyrics,
    parse_persona,
    parse_persona_delete,
    parse_persona_list,
    parse_style,
    parse_upload,
    parse_voice,
    parse_vox,
)
from cadenza.api.acedata.schemas import (
    AceDataBody,
    ClipToolBody,
    LyricsBody,
    MashupLyricsBody,
    PersonaBody,
    StyleBody,
    UploadBody,
    VoicesBody,
    VoxBody,
)
from cadenza.api.deps import ContainerDep, CurrentKey
from cadenza.api.documenting import json_body, query_parameter
from cadenza.bootstrap import Container
from cadenza.domain.billing import ApiKey
from cadenza.domain.library import Persona
from cadenza.services import library
from cadenza.services.commands import Origin, Submission, WriteLyrics
from cadenza.services.commands_media import (
    AlignWords,
    CloneVoice,
    CreatePersona,
    ExpandStyle,
    ExportMidi,
    ExportWav,
    ExtractVox,
    ImportAudio,
    MergeLyrics,
    RenderVideo,
)

router = acedata_router()

#: What every tool that makes a task can answer besides its data: 403 (balance, disabled
#: price, moderation), 500 (the task failed), 504 (it outlived the wait).
_TASK_ERRORS = (403, 500, 504)


def _answers(data: Any, *, deferrable: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a tool route: ``AceDataAnswer[data]`` once its task has ended,
    or at once ``AceDataAccepted`` where the body may ask (``async``, ``callback_url``)."""
    answer: Any = AceDataAnswer[data]
    if deferrable:
        return documented(
            answer | AceDataAccepted,
            *_TASK_ERRORS,
            description="the tool's data once its task has ended, or at once the accepted "
            "task (``async: true`` or a ``callback_url``)",
        )
    return documented(answer, *_TASK_ERRORS, description="the tool's data")


def _body(model: type[AceDataBody], example: dict[str, Any] | None = None) -> dict[str, Any]:
    return json_body(
        model,
        name=f"AceData{model.__name__}",
        examples={"request": example} if example is not None else None,
    )


def _status_of(body: Mapping[str, Any]) -> int:
    """A failed task answers with its error's status (the contract's table)."""
    if body.get("success") is not False:
        return 200
    code = (body.get("error") or {}).get("code")
    return 504 if code == "timeout" else 500


async def run_command(
    request: Request,
    key: ApiKey,
    container: Container,
    command: object,
    raw: Any,
    delivery: Delivery | None = None,
) -> Response:
    """Submit ``command``; answer at once (async or callback delivery) or once its task
    has ended. Bad input fails in ``submit``, before any charge."""
    trace_id = trace_id_of(request.scope)
    how = Submission(
        origin=Origin(routes.DIALECT, raw if isinstance(raw, Mapping) else None, trace_id),
        idempotency_key=request.headers.get("Idempotency-Key"),
        callback=routes.callback_of(container, delivery.callback_url if delivery else None),
        fingerprint=raw if isinstance(raw, Mapping) else {},
    )
    task = await run_in_threadpool(container.commands.submit, key, command, how)
    request.state.task_id = task.id
    if delivery is not None and not delivery.waits:
        return JSONResponse(accepted_answer(task.id, trace_id))
    wait_s = container.settings.acedata_wait_s
    view = await routes.finished_view(container, key, task.id, wait_s)
    if not view.task.status.finished:
        raise AceDataError.timeout(task.id)
    body = audios_answer(view, container.storage, trace_id)
    return JSONResponse(body, status_code=_status_of(body))


@router.post(
    "/suno/lyrics",
    responses=_answers(list[AceDataLyrics]),
    openapi_extra=_body(LyricsBody, {"prompt": "a song about the sea", "model": "default"}),
)
async def lyrics(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    raw = await routes.read_json(request)
    req = parse_lyrics(raw)
    return await run_command(request, key, container, WriteLyrics(req.prompt), raw)


@router.post(
    "/suno/upload",
    responses=_answers(AceDataUpload, deferrable=True),
    openapi_extra=_body(UploadBody),
)
async def upload(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    raw = await routes.read_json(request)
    req = parse_upload(raw)
    return await run_command(request, key, container, ImportAudio(req.audio_url), raw, req.delivery)


@router.post(
    "/suno/persona", responses=_answers(AceDataPersonaMade), openapi_extra=_body(PersonaBody)
)
async def create_persona(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    raw = await routes.read_json(request)
    req = parse_persona(raw)
    command = CreatePersona(
        clip_id=req.clip_id,
        name=req.name,
        description=req.description,
        vox_clip_id=req.vox_clip_id,
        vocal_start_s=req.vocal.start if req.vocal else None,
        vocal_end_s=req.vocal.end if req.vocal else None,
    )
    return await run_command(request, key, container, command, raw)


def source_urls(container: Container, personas: Sequence[Persona]) -> dict[str, str]:
    """Where each persona's voice came from, for Web to play: the recording of a
    ``/suno/voices`` persona, else the audio of the clip it was made from."""
    sources = library.persona_sources(container.uow, personas)
    return {pid: container.storage.url(key) if key else "" for pid, key in sources.items()}


@router.get(
    "/suno/persona",
    responses=documented(AceDataPersonaList),
    openapi_extra={
        "parameters": [
            query_parameter("user_id", {"type": "string"}, description="AceData's account id"),
            query_parameter("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
            query_parameter("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}),
        ]
    },
)
async def list_personas(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    req = parse_persona_list(dict(request.query_params))

    def page() -> dict[str, Any]:
        found, count = library.list_personas(container.uow, key, limit=req.limit, offset=req.offset)
        return persona_list_answer(found, count, req.user_id or "", source_urls(container, found))

    return JSONResponse(await run_in_threadpool(page))


@router.delete(
    "/suno/persona",
    responses=documented(AceDataDeleted),
    openapi_extra={
        "parameters": [
            query_parameter("persona_id", {"type": "string", "minLength": 1}, required=True),
            query_parameter("user_id", {"type": "string"}),
        ]
    },
)
async def delete_persona(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    req = parse_persona_delete(dict(request.query_params))
    await run_in_threadpool(library.delete_persona, container.uow, key, req.persona_id)
    return JSONResponse({"success": True})


@router.post(
    "/suno/voices", responses=_answers(AceDataPersonaMade), openapi_extra=_body(VoicesBody)
)
async def voices(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    raw = await routes.read_json(request)
    req = parse_voice(raw)
    command = CloneVoice(req.audio_url, name=req.name, description=req.description)
    return await run_command(request, key, container, command, raw)


@router.post(
    "/suno/vox", responses=_answers(AceDataVox, deferrable=True), openapi_extra=_body(VoxBody)
)
async def vox(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    raw = await routes.read_json(request)
    req = parse_vox(raw)
    command = ExtractVox(
        req.clip_id,
        start_s=req.vocal.start if req.vocal else None,
        end_s=req.vocal.end if req.vocal else None,
    )
    return await run_command(request, key, container, command, raw, req.delivery)


_CLIP_TOOLS: dict[ClipTool, type[RenderVideo | AlignWords | ExportWav | ExportMidi]] = {
    ClipTool.MP4: RenderVideo,
    ClipTool.TIMING: AlignWords,
    ClipTool.WAV: ExportWav,
    ClipTool.MIDI: ExportMidi,
}


async def _clip_tool(
    tool: ClipTool, request: Request, key: ApiKey, container: Container
) -> Response:
    raw = await routes.read_json(request)
    req = parse_clip_tool(tool, raw)
    command = _CLIP_TOOLS[tool](req.clip_id)
    return await run_command(request, key, container, command, raw, req.delivery)


@router.post(
    "/suno/mp4",
    responses=_answers(AceDataVideo, deferrable=True),
    openapi_extra=_body(ClipToolBody),
)
async def mp4(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    return await _clip_tool(ClipTool.MP4, request, key, container)


@router.post(
    "/suno/timing",
    responses=_answers(AceDataTiming, deferrable=True),
    openapi_extra=_body(ClipToolBody),
)
async def timing(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    return await _clip_tool(ClipTool.TIMING, request, key, container)


@router.post(
    "/suno/wav",
    responses=_answers(list[AceDataFile], deferrable=True),
    openapi_extra=_body(ClipToolBody),
)
async def wav(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    return await _clip_tool(ClipTool.WAV, request, key, container)


@router.post(
    "/suno/midi",
    responses=_answers(list[AceDataMidi], deferrable=True),
    openapi_extra=_body(ClipToolBody),
)
async def midi(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    return await _clip_tool(ClipTool.MIDI, request, key, container)


@router.post(
    "/suno/style",
    responses=_answers(AceDataStyle),
    openapi_extra=_body(StyleBody, {"prompt": "dreamy synth-pop"}),
)
async def style(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    raw = await routes.read_json(request)
    req = parse_style(raw)
    return await run_command(request, key, container, ExpandStyle(req.prompt), raw)


@router.post(
    "/suno/mashup-lyrics",
    responses=_answers(AceDataLyrics),
    openapi_extra=_body(
        MashupLyricsBody,
        {"lyrics_a": "[Verse]\nRain on the window", "lyrics_b": "[Chorus]\nSun on the sea"},
    ),
)
async def mashup_lyrics(request: Request, key: CurrentKey, container: ContainerDep) -> Response:
    raw = await routes.read_json(request)
    req = parse_mashup_lyrics(raw)
    command = MergeLyrics(req.lyrics_a, req.lyrics_b)
    return await run_command(request, key, container, command, raw)


routes.claim_paths(getattr(route, "path", "") for route in router.routes)
