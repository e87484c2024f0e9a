"""Serves files of the local media store, with HTTP Range support for audio seeking.

Keys are unguessable (the worker makes them), so media needs no API key, like the
object-store URLs of the scale-out setup.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from cadenza.storage.local import LocalStorage

CONTENT_TYPES: dict[str, str] = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".json": "application/json",
    ".lrc": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".zip": "application/zip",
}


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _schema(media_type: str) -> dict[str, Any]:
    if media_type == "application/json":
        return {"schema": {}}  # lyrics.json, score.json, meta.json
    if media_type == "text/plain":
        return {"schema": {"type": "string"}}
    return {"schema": {"type": "string", "format": "binary"}}


#: What ``FileResponse`` answers: the file, a byte range of it, or a plain-text refusal of
#: a malformed (400) or unsatisfiable (416) ``Range``; a missing file is the JSON 404.
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file",
        "content": {
            media_type: _schema(media_type)
            for media_type in sorted(
                {ctype.split(";")[0] for ctype in CONTENT_TYPES.values()}
                | {"application/octet-stream"}
            )
        },
    },
    206: {"description": "the byte range asked for with Range", "content": {"*/*": {}}},
    400: {"description": "a malformed Range header", "content": _TEXT},
    416: {"description": "a Range past the end of the file", "content": _TEXT},
}


def media_router(storage: LocalStorage) -> APIRouter:
    """Keys are validated by the store itself; a bad or missing key is a plain 404."""
    router = APIRouter()

    @router.api_route(
        "/media/{key:path}",
        methods=["GET", "HEAD"],
        response_class=Response,
        responses=RESPONSES,
    )
    def media(key: str) -> FileResponse:
        path = storage.path_for(key)
        return FileResponse(
            path,
            media_type=content_type(path.name),
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    return router
