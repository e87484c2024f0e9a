"""Every error of the AceData dialect, mapped from domain errors in this one place.

The body is ``{"success": false, "error": {"code", "message"}, "trace_id", "task_id"?}``
with the HTTP status of the contract (§1, §5). The mapping is scoped to AceData's routes:
they are made by ``AceDataRoute`` (an ``APIRoute`` whose handler catches and translates),
so the app-wide handlers of the sunocore dialect, and its answers, stay as they are. Errors
raised before a route is chosen (no route matched, wrong method) never reach a route; the
app answers those with ``no_api_response`` where it knows the path is AceData's.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from cadenza.api.acedata.schemas import validation_message
from cadenza.api.deps import secret_of
from cadenza.api.responses import safe_text
from cadenza.domain.errors import (
    ConcurrencyLimited,
    DomainError,
    EngineError,
    Forbidden,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthorized,
    UpstreamUnavailable,
)

log = structlog.get_logger("cadenza.api.acedata")

# The contract's messages (§1, §5), word for word.
NO_TOKEN = "No token specified for the request."
INVALID_TOKEN = "The specified token is invalid or wrong."
USED_UP = "Your balance is not sufficient for current request, please buy more in Ace Data Cloud."
RATE_LIMITED = "You have exceeded the rate limit."
NOT_IMPLEMENTED = "The API is not implemented."
NO_API = "API does not exist, please make sure url is correct."
SONG_NOT_FOUND = "The song id does not exist or has been taken offline."
PERSONA_NOT_FOUND = "The persona id does not exist or has been deleted."
TASK_NOT_FOUND = "The task id does not exist."
TIMEOUT = "timeout while waiting for audio generation"
JOB_FAILED = "job failed with unknown error"
INTERNAL = "internal server error"


class AceDataError(Exception):
    """An error only this dialect has (no domain error means it): raised by its routes."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        task_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.task_id = task_id
        self.headers = dict(headers) if headers else None

    @classmethod
    def not_implemented(cls) -> AceDataError:
        """An action or endpoint Cadenza does not serve yet."""
        return cls(400, "api_not_implemented", NOT_IMPLEMENTED)

    @classmethod
    def timeout(cls, task_id: str | None = None) -> AceDataError:
        """A sync request whose task did not finish in time (the task goes on)."""
        return cls(504, "timeout", TIMEOUT, task_id=task_id)

    @classmethod
    def no_api(cls) -> AceDataError:
        return cls(404, "no_api", NO_API)


#: A mapped error: HTTP status, code, message and extra headers.
Mapped = tuple[int, str, str, dict[str, str] | None]


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(seconds)))}


def _not_found_message(message: str) -> str:
    """Domain ``NotFound`` names what was missing in its text ("clip ... not found")."""
    text = message.lower()
    if text.startswith("persona"):
        return PERSONA_NOT_FOUND
    if text.startswith("task"):
        return TASK_NOT_FOUND
    return SONG_NOT_FOUND


def map_error(exc: BaseException, *, has_token: bool = True) -> Mapped:
    """(status, code, message, headers) of any exception, per contract §1 and §5.

    ``has_token`` tells a request that sent no key (``no_token``, 400) from one whose key
    is wrong (``invalid_token``, 401): the domain's ``Unauthorized`` is both.
    """
    if isinstance(exc, AceDataError):
        return exc.status, exc.code, exc.message, exc.headers
    if isinstance(exc, Unauthorized):
        return (
            (401, "invalid_token", INVALID_TOKEN, None)
            if has_token
            else (
                400,
                "no_token",
                NO_TOKEN,
                None,
            )
        )
    if isinstance(exc, InsufficientCredits):
        return 403, "used_up", USED_UP, None
    if isinstance(exc, RateLimited):
        return 429, "too_many_requests", RATE_LIMITED, _retry_after(exc.retry_after)
    if isinstance(exc, ConcurrencyLimited):
        return 429, "too_many_requests", exc.message, _retry_after(exc.retry_after)
    if isinstance(exc, NotFound):
        return 400, "bad_request", _not_found_message(exc.message), None
    if isinstance(exc, InvalidInput | IdempotencyConflict):
        return 400, "bad_request", exc.message, None
    if isinstance(exc, Forbidden):
        # Moderation (``ContentRejected``) and disabled actions alike.
        return 403, "forbidden", exc.message, None
    if isinstance(exc, UpstreamUnavailable):
        return 500, "api_error", exc.message, None
    if isinstance(exc, DomainError):
        return 500, "api_error", exc.message, None
    if isinstance(exc, EngineError):
        return 500, "api_error", JOB_FAILED, None
    if isinstance(exc, RequestValidationError):
        return 400, "bad_request", validation_message(list(exc.errors())), None
    if isinstance(exc, StarletteHTTPException):
        return _map_http(exc)
    return 500, "api_error", INTERNAL, None


def _map_http(exc: StarletteHTTPException) -> Mapped:
    status = exc.status_code
    headers = dict(exc.headers) if exc.headers else None
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if status in (404, 405):
        return 404, "no_api", NO_API, None
    if status == 401:
        return 401, "invalid_token", INVALID_TOKEN, headers
    if status == 403:
        return 403, "forbidden", detail or "Forbidden.", headers
    if status == 429:
        return 429, "too_many_requests", RATE_LIMITED, headers
    if status == 504:
        return 504, "timeout", TIMEOUT, headers
    if status >= 500:
        return 500, "api_error", detail or INTERNAL, headers
    if status == 413:
        return 400, "bad_request", "The request body is too large.", headers
    return 400, "bad_request", detail or "The request is invalid.", headers


def trace_id_of(scope: Scope) -> str:
    """The request id the request middleware gave this request (it is also the answer's
    ``X-Request-ID``), so a client's ``trace_id`` finds the log line."""
    state = scope.get("state") or {}
    trace = state.get("request_id")
    return str(trace) if trace else str(uuid.uuid4())


def error_body(
    code: str, message: str, trace_id: str, task_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": False,
        "error": {"code": code, "message": safe_text(message)},
        "trace_id": trace_id,
    }
    if task_id:
        body["task_id"] = task_id
    return body


def error_response(
    status: int,
    code: str,
    message: str,
    trace_id: str,
    *,
    task_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, trace_id, task_id),
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def exception_response(scope: Scope, exc: BaseException) -> JSONResponse:
    """The AceData answer to ``exc`` raised while serving ``scope``. A task id the route
    set on ``request.state.task_id`` (a task was made before the failure) is echoed."""
    status, code, message, headers = map_error(exc, has_token=secret_of(scope) is not None)
    state = scope.get("state") or {}
    task_id = getattr(exc, "task_id", None) or state.get("task_id")
    return error_response(
        status, code, message, trace_id_of(scope), task_id=task_id, headers=headers
    )


def no_api_response(scope: Scope) -> JSONResponse:
    """``404 no_api`` for a path no route serves (the app decides it is AceData's)."""
    return error_response(404, "no_api", NO_API, trace_id_of(scope))


_EXPECTED = (
    AceDataError,
    DomainError,
    EngineError,
    RequestValidationError,
    StarletteHTTPException,
)


class AceDataRoute(APIRoute):
    """A route whose errors come out in AceData's envelope, whatever the app's handlers say:
    the handler FastAPI builds (body parsing, validation, dependencies, the endpoint) runs
    inside a ``try``, so nothing it raises reaches the app-wide handlers of other dialects."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def acedata_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except _EXPECTED as exc:
                return exception_response(request.scope, exc)
            except Exception as exc:
                log.exception(
                    "unexpected_error",
                    request_id=trace_id_of(request.scope),
                    path=request.url.path,
                    error=type(exc).__name__,
                )
                return exception_response(request.scope, exc)

        return acedata_handler


def acedata_router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose routes answer errors the AceData way (``AceDataRoute``)."""
    return APIRouter(route_class=AceDataRoute, **kwargs)


async def _handle(request: Request, exc: Exception) -> Response:
    return exception_response(request.scope, exc)


#: The same mapping as Starlette exception handlers, for a mounted AceData sub-application
#: (``FastAPI(exception_handlers=EXCEPTION_HANDLERS)``) rather than ``AceDataRoute``.
EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    AceDataError: _handle,
    DomainError: _handle,
    RequestValidationError: _handle,
    StarletteHTTPException: _handle,
    Exception: _handle,
}
