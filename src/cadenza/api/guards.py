"""ASGI guards in front of every route: a cap on request bodies, and submit paths in any
letter case.

Both are pure ASGI (no ``BaseHTTPMiddleware``): they sit on the poll path, which serves
thousands of requests a second, and cost a few string comparisons there.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Builds the dialect's error answer: (status, code, message) -> response.
ErrorResponder = Callable[[int, str, str], Response]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SUBMIT_PREFIX = "/suno/submit/"


class SubmitPathCase:
    """``/suno/submit/MUSIC`` is ``/suno/submit/music``: the new-api gateway builds the path
    from its upper-cased action, and Suno-API servers match it in any case."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path[:13].lower() == _SUBMIT_PREFIX and not path.islower():
                lowered = _SUBMIT_PREFIX + path[13:].lower()
                scope = {**scope, "path": lowered, "raw_path": lowered.encode()}
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413 before a route reads them.

    A declared ``Content-Length`` over the cap is refused unread; a body sent without one
    (chunked) is read up to the cap and refused past it. Routes that stream a large body to
    disk under a cap of their own (``streams_own_body``) are left alone.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        error: ErrorResponder,
        streams_own_body: Callable[[str], bool] = lambda path: False,
        error_for: Callable[[Scope], ErrorResponder | None] = lambda scope: None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.error = error
        self.streams_own_body = streams_own_body
        #: The responder of the dialect that owns the path, where it is not ``error``'s.
        self.error_for = error_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _BODY_METHODS
            or self.streams_own_body(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No length given: buffer up to the cap, then replay what was read.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = f"{self.max_bytes:,}".replace(",", " ")
        error = self.error_for(scope) or self.error
        response = error(413, "payload_too_large", f"request body is over {limit} bytes")
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
