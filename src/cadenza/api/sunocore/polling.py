"""The polling routes of the sunocore dialect: ``GET /suno/fetch/{task_id}`` and
``POST /suno/fetch``.

Clients poll every few seconds per task, so these are the API's hottest path. They are
plain Starlette routes, placed ahead of the FastAPI routers: FastAPI's per-request work
(two-phase matching of included routers, dependency solving, response validation) costs
more than the rest of a poll together. They authenticate, rate limit, validate and fail
exactly like every other route, through the same functions and error handlers.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from cadenza.api.deps import container_of, current_key, look_up
from cadenza.api.responses import FastJSONResponse
from cadenza.api.sunocore.schemas import FetchBody, ok, task_object
from cadenza.services import tasks


class _Route(Route):
    """Names itself in the scope as FastAPI's routes do, for the request log and metrics."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


async def fetch_one(request: Request) -> FastJSONResponse:
    """One task; another key's task is the same 404 as a missing one."""
    key = await current_key(request)
    container = container_of(request)
    views = container.views
    task_id = str(request.path_params["task_id"])
    view = await look_up(views.inline, tasks.get, views, key, task_id)
    return FastJSONResponse(ok(task_object(view, container.storage)))


async def fetch_many(request: Request) -> FastJSONResponse:
    """Several tasks, in the order asked; other keys' and missing ones are left out. One is
    looked up on the event loop where that is cheaper than a thread hop (``look_up``); a
    batch goes to the thread pool."""
    key = await current_key(request)
    body = _fetch_body(await request.body())
    container = container_of(request)
    views = container.views
    inline = views.inline and len(body.ids) == 1
    found = await look_up(inline, tasks.fetch, views, key, body.ids)
    return FastJSONResponse(ok([task_object(view, container.storage) for view in found]))


def _fetch_body(raw: bytes) -> FetchBody:
    try:
        return FetchBody.model_validate_json(raw)
    except ValidationError as exc:
        errors: list[Any] = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from exc


def polling_routes() -> list[BaseRoute]:
    return [
        _Route("/suno/fetch/{task_id}", fetch_one, methods=["GET"]),
        _Route("/suno/fetch", fetch_many, methods=["POST"]),
    ]
