"""Library and score routes of seed 000: personas, MIDI, aligned lyrics, playlists, tags, art.

These answer at once (no task id to poll); each is priced and charged like a task (see
``cadenza.services.library``). JSON answers are ``{"code":"success","message":"","data":{...}}``;
``GET /suno/midi/{task_id}/{clip_id}`` answers the MIDI file itself (``audio/midi``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import Field

from cadenza.api.bodies import RequestBody
from cadenza.api.deps import ContainerDep, CurrentKey
from cadenza.api.openapi import documented
from cadenza.api.sunocore.answers import (
    AlignedLyricsAnswer,
    PersonaAnswer,
    PlaylistAnswer,
    PromptImageAnswer,
    UpsampledTagsAnswer,
)
from cadenza.api.sunocore.routes import submission
from cadenza.api.sunocore.schemas import iso, ok
from cadenza.domain.errors import InvalidInput
from cadenza.domain.library import (
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_PERSONA_CLIPS,
    MAX_PLAYLIST_CLIPS,
    Persona,
    Playlist,
)
from cadenza.services import library
from cadenza.services.commands_library import CreatePlaylist, PromptImage
from cadenza.services.commands_media import (
    NO_SUNG_WORDS,
    AlignWords,
    CreatePersona,
    ExpandStyle,
    ExportMidi,
    NothingSung,
)
from cadenza.services.ports import MediaStorage

router = APIRouter()

_ID = 64


class PersonaBody(RequestBody):
    root_clip_id: str | None = Field(default=None, max_length=_ID)
    clips: list[Annotated[str, Field(max_length=_ID)]] | None = Field(
        default=None, max_length=MAX_PERSONA_CLIPS
    )
    name: str | None = Field(default=None, max_length=MAX_NAME)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    is_public: bool | None = None
    persona_type: str | None = Field(default=None, max_length=16)


class VoxPersonaBody(RequestBody):
    task_id: str | None = Field(default=None, max_length=_ID)
    song_id: str = Field(max_length=_ID)
    duration: float | None = None
    name: str | None = Field(default=None, max_length=MAX_NAME)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


class PlaylistBody(RequestBody):
    task_id: str | None = Field(default=None, max_length=_ID)
    name: str = Field(max_length=MAX_NAME)
    clip_ids: list[Annotated[str, Field(max_length=_ID)]] = Field(
        default_factory=list, max_length=MAX_PLAYLIST_CLIPS
    )


class UpsampleTagsBody(RequestBody):
    original_tags: str = Field(max_length=library.MAX_TAGS)


class PromptImageBody(RequestBody):
    prompt: str = Field(max_length=library.MAX_PROMPT)


def persona_object(persona: Persona, storage: MediaStorage) -> dict[str, Any]:
    reference_key = str(persona.reference.get("audio_key") or "")
    return {
        "persona_id": persona.id,
        "id": persona.id,
        "name": persona.name,
        "description": persona.description,
        "is_public": persona.is_public,
        "persona_type": persona.persona_type.value,
        "root_clip_id": persona.root_clip_id,
        "clips": list(persona.clip_ids),
        "voice": dict(persona.voice),
        "style": dict(persona.style),
        "vox_audio_url": storage.url(reference_key) if reference_key else "",
        "vox_start_s": persona.reference.get("start_s"),
        "vox_duration_s": persona.reference.get("duration_s"),
        "created_at": iso(persona.created_at),
    }


def playlist_object(playlist: Playlist) -> dict[str, Any]:
    return {
        "playlist_id": playlist.id,
        "id": playlist.id,
        "name": playlist.name,
        "clip_ids": list(playlist.clip_ids),
        "num_total_results": len(playlist.clip_ids),
        "created_at": iso(playlist.created_at),
    }


@router.post("/suno/persona/create", responses=documented(PersonaAnswer, 402, 403, 404))
def create_persona(
    body: Annotated[PersonaBody, Body()], key: CurrentKey, container: ContainerDep
) -> dict[str, Any]:
    command = CreatePersona(
        body.root_clip_id or "",
        body.name or "",
        body.description or "",
        clip_ids=tuple(body.clips or ()),
        is_public=bool(body.is_public),
        persona_type=body.persona_type,
    )
    persona = container.commands.run(key, command, submission(None)).made
    return ok(persona_object(persona, container.storage))


@router.post(
    "/suno/persona/create-with-vox-stem", responses=documented(PersonaAnswer, 402, 403, 404)
)
def create_vox_persona(
    body: Annotated[VoxPersonaBody, Body()], key: CurrentKey, container: ContainerDep
) -> dict[str, Any]:
    command = CreatePersona(
        body.song_id,
        body.name or "",
        body.description or "",
        vox_stem=True,
        vox_duration_s=body.duration,
    )
    persona = container.commands.run(key, command, submission(None)).made
    return ok(persona_object(persona, container.storage))


@router.get(
    "/suno/midi/{task_id}/{clip_id}",
    response_class=Response,
    responses={
        **documented(None, 400, 402, 403),
        200: {
            "content": {"audio/midi": {"schema": {"type": "string", "format": "binary"}}},
            "description": "a standard MIDI file",
        },
    },
)
def midi(task_id: str, clip_id: str, key: CurrentKey, container: ContainerDep) -> Response:
    command = ExportMidi(clip_id, task_id=task_id)
    result = container.commands.run(key, command, submission(None)).made
    return Response(
        content=result.data,
        media_type="audio/midi",
        headers={
            "Content-Disposition": f'attachment; filename="{result.clip_id}.mid"',
            "X-Midi-Source": result.source,
        },
    )


#: The message of an aligned-lyrics answer with no words.
NO_SUNG_LYRICS = NO_SUNG_WORDS


@router.get("/api/get_aligned_lyrics_v3", responses=documented(AlignedLyricsAnswer, 402, 403, 404))
def aligned_lyrics(
    key: CurrentKey,
    container: ContainerDep,
    song_id: Annotated[str, Query(max_length=_ID)] = "",
) -> dict[str, Any]:
    """Exact word timings of a sung clip. A clip with nothing sung (an instrumental, an
    upload) answers an empty list, uncharged, and says so in ``message``."""
    if not song_id:
        raise InvalidInput("song_id is required")
    try:
        command = AlignWords(song_id, waveform=False)
        words = container.commands.run(key, command, submission(None)).made
    except NothingSung:
        # Instrumentals and uploads: nothing was sung, so nothing to align and no charge.
        words = []
    message = "" if words else NO_SUNG_LYRICS
    answer = ok({"aligned_words": words, "song_id": song_id, "message": message})
    answer["message"] = message
    return answer


@router.post("/api/playlist/create_with_clips", responses=documented(PlaylistAnswer, 402, 403, 404))
def create_playlist(
    body: Annotated[PlaylistBody, Body()], key: CurrentKey, container: ContainerDep
) -> dict[str, Any]:
    command = CreatePlaylist(body.name, tuple(body.clip_ids), task_id=body.task_id)
    playlist = container.commands.run(key, command, submission(None)).made
    return ok(playlist_object(playlist))


@router.post("/api/generate/upsample-tags", responses=documented(UpsampledTagsAnswer, 402, 403))
def upsample_tags(
    body: Annotated[UpsampleTagsBody, Body()], key: CurrentKey, container: ContainerDep
) -> dict[str, Any]:
    if not body.original_tags.strip():
        raise InvalidInput("original_tags is required")
    richer = container.commands.run(key, ExpandStyle(body.original_tags), submission(None)).made
    return ok({"upsampled_tags": richer, "original_tags": body.original_tags})


@router.post("/suno/prompt_image", responses=documented(PromptImageAnswer, 402, 403))
def prompt_image(
    body: Annotated[PromptImageBody, Body()], key: CurrentKey, container: ContainerDep
) -> dict[str, Any]:
    image = container.commands.run(key, PromptImage(body.prompt), submission(None)).made
    return ok({"image_url": image.url, "image_s3_id": image.storage_key})
