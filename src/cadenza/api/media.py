"""Serves files of the local media store, with HTTP Range support for audio seeking.

Keys are unguessable (the worker makes them), so media needs no API key, like the
object-store URLs of the scale-out setup.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

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


def media_router(storage: LocalStorage) -> APIRouter:
    """Keys are validated by the store itself; a bad or missing key is a plain 404."""
    router = APIRouter()

    @router.api_route("/media/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def media(key: str) -> FileResponse:
        path = storage.path_for(key)
        return FileResponse(
            path,
            media_type=content_type(path.name),
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    return router
