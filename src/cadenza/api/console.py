"""The web console: a single page served by the API process itself at ``/``.

The page is plain HTML, CSS and an ES module shipped in the package (no build step, no
Node at run time). It speaks to the same public API as any client (the sunocore dialect
with ``X-API-Key``, and the ``/api/v1`` listing and admin routes), so it needs no routes of
its own beyond its assets and a small configuration document: the models and the engine's
style words for the tag suggestions.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cadenza import __version__
from cadenza.domain.models import DEFAULT_MODEL, MODELS

ASSETS = Path(__file__).parent / "console_assets"

#: The page and its assets change with the package version: revalidate, never serve stale.
_NO_STALE = {"Cache-Control": "no-cache"}


@cache
def _config() -> dict[str, Any]:
    from cadenza.compose.vocabulary import style_vocabulary

    genres, moods, instruments = style_vocabulary()
    return {
        "version": __version__,
        "models": [m.name for m in MODELS],
        "default_model": DEFAULT_MODEL,
        "genres": genres,
        "moods": moods,
        "instruments": instruments,
    }


async def _index(request: Request) -> Response:
    return FileResponse(ASSETS / "index.html", media_type="text/html", headers=_NO_STALE)


async def _config_json(request: Request) -> Response:
    return JSONResponse(_config(), headers=_NO_STALE)


class _Assets(StaticFiles):
    """Static assets, revalidated on every load (they are small and change per release)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(_NO_STALE)
        return response


def console_routes() -> list[BaseRoute]:
    """``/`` (the page), ``/console/config.json`` and ``/console/<asset>``."""
    return [
        Route("/", _index, methods=["GET", "HEAD"], include_in_schema=False),
        Route("/console/config.json", _config_json, methods=["GET"], include_in_schema=False),
        Mount("/console", app=_Assets(directory=ASSETS), name="console"),
    ]
