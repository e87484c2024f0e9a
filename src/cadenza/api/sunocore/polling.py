"""The polling routes of the sunocore dialect: ``GET /suno/fetch/{task_id}`` and
``POST /suno/fetch``.

Clients poll every few seconds per task, so these are the API's hottest path. They are
plain Starlette routes, placed ahead of the FastAPI routers: FastAPI's per-request work
(two-phase matching of included routers, dependency solving, response validation) costs
more than the rest of a poll together. They authenticate, rate limit, validate and fail
exactly like every other route, through the same functions and error handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadenza.api.deps import (
    AuthCache,
    authenticate,
    cached_key,
    look_up,
    rate_limit,
    rate_limit_inline,
)
from cadenza.api.renderings import Renderings
from cadenza.api.responses import json_bytes
from cadenza.api.sunocore.errors import domain_error_response, validation_error_response
from cadenza.api.sunocore.schemas import FetchBody, task_object
from cadenza.bootstrap import Container
from cadenza.domain.billing import ApiKey
from cadenza.domain.errors import DomainError
from cadenza.domain.tasks import TaskView
from cadenza.services import tasks
from cadenza.services.ports import MediaStorage
from cadenza.storage import public_base


class _Route(Route):
    """Names itself in the scope as FastAPI's routes do, for the request log and metrics."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


#: ``{"code":"success","message":"","data":`` … ``}`` around one rendering or a list of them:
#: the bytes ``json_bytes(ok(data))`` writes.
_OPEN = b'{"code":"success","message":"","data":'
_CLOSE = b"}"
_DIALECT = "sunocore"


class Polls:
    """The two polls of this dialect, bound to the app's container, key cache and
    renderings (no lookups through ``request.app.state`` on the hottest path)."""

    def __init__(self, container: Container, auth_cache: AuthCache, renderings: Renderings):
        self.container = container
        self.auth_cache = auth_cache
        self.renderings = renderings
        self.default_base = container.settings.resolved_public_url()
        self._one_route = _Route(ONE_PATH, _Endpoint(self._one_by_path), methods=["GET"])
        self._many_route = _Route(MANY_PATH, _Endpoint(self.many), methods=["POST"])

    async def _key(self, scope: Scope) -> ApiKey:
        key = cached_key(scope, self.auth_cache)
        if key is None:
            key = await authenticate(scope, self.container, self.auth_cache)
        if not rate_limit_inline(self.container, key):
            await rate_limit(self.container, key)
        return key

    async def one(self, scope: Scope, receive: Receive, task_id: str) -> bytes:
        """One task; another key's task is the same 404 as a missing one. An unchanged task
        is answered from its last rendering (one indexed read of its revision)."""
        key = await self._key(scope)
        container = self.container
        views = container.views
        renderings, base = self._reuse()
        generation = 0
        if renderings is not None:
            generation = renderings.generation  # before any read, see ``Renderings.put``
            if container.changes.live:
                kept = renderings.current(_DIALECT, task_id, base, key.id)
            else:
                revision = (
                    tasks.revision(views, key, task_id)
                    if views.inline
                    else await look_up(False, tasks.revision, views, key, task_id)
                )
                kept = renderings.get(_DIALECT, task_id, base, revision)
            if kept is not None:
                return _OPEN + kept + _CLOSE
        view = await look_up(views.inline, tasks.get, views, key, task_id)
        rendered = _render(view, container.storage, renderings, base, key.id, generation)
        return _OPEN + rendered + _CLOSE

    async def many(self, scope: Scope, receive: Receive) -> bytes:
        """Several tasks, in the order asked; other keys' and missing ones are left out. One
        is looked up on the event loop where that is cheaper than a thread hop
        (``look_up``); a batch goes to the thread pool. Unchanged tasks come from their
        last renderings."""
        key = await self._key(scope)
        body = _fetch_body(await _read_body(receive))
        container = self.container
        views = container.views
        inline = views.inline and len(body.ids) == 1
        renderings, base = self._reuse()
        parts: dict[str, bytes] = {}
        wanted = body.ids
        generation = 0
        if renderings is not None:
            generation = renderings.generation  # before any read, see ``Renderings.put``
            if container.changes.live:
                for task_id in dict.fromkeys(body.ids):
                    kept = renderings.current(_DIALECT, task_id, base, key.id)
                    if kept is not None:
                        parts[task_id] = kept
                wanted = [i for i in body.ids if i not in parts]
            else:
                revisions = await look_up(inline, tasks.revisions, views, key, body.ids)
                for task_id, revision in revisions.items():
                    kept = renderings.get(_DIALECT, task_id, base, revision)
                    if kept is not None:
                        parts[task_id] = kept
                wanted = [i for i in revisions if i not in parts]
        if wanted:
            found = await look_up(inline, tasks.fetch, views, key, wanted)
            for view in found:
                parts[view.task.id] = _render(
                    view, container.storage, renderings, base, key.id, generation
                )
        ordered = [parts[i] for i in dict.fromkeys(body.ids) if i in parts]
        return _OPEN + b"[" + b",".join(ordered) + b"]" + _CLOSE

    def _reuse(self) -> tuple[Renderings | None, str]:
        """The renderings when answers may be reused, and the base URL of their links."""
        if not self.renderings.enabled or not self.container.storage.stable_urls:
            return None, ""
        base = public_base.resolve(self.default_base)
        return self.renderings, base

    def routes(self) -> list[BaseRoute]:
        """The polls as routes of the app: the document lists them, and a method the lane
        leaves alone (HEAD, a wrong one) gets the router's answer. Errors raised here reach
        the app's exception handlers like any route's."""
        return [self._one_route, self._many_route]

    def lane(self, app: ASGIApp) -> ASGIApp:
        """Answers ``GET /suno/fetch/{id}`` and ``POST /suno/fetch`` before the framework's
        stack (its error middlewares, router and route wrappers cost more than a poll
        answered from a rendering); everything else goes on to ``app``."""
        return _PollLane(app, self, self._one_route, self._many_route)

    async def _one_by_path(self, scope: Scope, receive: Receive) -> bytes:
        return await self.one(scope, receive, str(scope["path_params"]["task_id"]))


ONE_PATH = "/suno/fetch/{task_id}"
MANY_PATH = "/suno/fetch"


def _render(
    view: TaskView,
    storage: MediaStorage,
    renderings: Renderings | None,
    base: str,
    owner: str,
    generation: int,
) -> bytes:
    rendered = json_bytes(task_object(view, storage))
    if renderings is not None:
        task = view.task
        renderings.put(
            _DIALECT, task.id, base, task.revision, rendered, owner=owner, generation=generation
        )
    return rendered


_JSON_TYPE = (b"content-type", b"application/json")


async def _send_json(send: Send, body: bytes) -> None:
    """A 200 with a JSON body, in the two messages ASGI needs and nothing else."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [_JSON_TYPE, (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class _Endpoint:
    """A poll as a bare ASGI app behind a route: no Request or Response objects."""

    def __init__(self, handler: Callable[[Scope, Receive], Awaitable[bytes]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send_json(send, await self.handler(scope, receive))


class _PollLane:
    def __init__(self, app: ASGIApp, polls: Polls, one: Route, many: Route) -> None:
        self.app = app
        self.polls = polls
        self.one_route = one
        self.many_route = many

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            method = scope["method"]
            if method == "GET" and path.startswith("/suno/fetch/"):
                task_id = path[12:]
                if task_id and "/" not in task_id:
                    scope["route"] = self.one_route
                    await self._answer(self.polls.one(scope, receive, task_id), scope, send)
                    return
            elif method == "POST" and path == MANY_PATH:
                scope["route"] = self.many_route
                await self._answer(self.polls.many(scope, receive), scope, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(work: Awaitable[bytes], scope: Scope, send: Send) -> None:
        """The answer, or the dialect's error for what the poll raised (anything else
        goes up to the request middleware, which answers 500)."""
        response: Response
        try:
            body = await work
        except DomainError as exc:
            response = domain_error_response(exc)
        except RequestValidationError as exc:
            response = validation_error_response(exc)
        else:
            await _send_json(send, body)
            return
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _fetch_body(raw: bytes) -> FetchBody:
    try:
        return FetchBody.model_validate_json(raw)
    except ValidationError as exc:
        errors: list[Any] = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from exc
