"""Every error of the sunocore dialect, mapped from domain errors in this one place.

The body is always ``{"code": <stable string>, "message": <safe text>, "data": null}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from cadenza.api.responses import safe_text
from cadenza.domain.errors import (
    ConcurrencyLimited,
    DomainError,
    Forbidden,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthorized,
    UpstreamUnavailable,
)

#: (HTTP status, code) per domain error; the first match along the MRO wins.
ERROR_CODES: dict[type[DomainError], tuple[int, str]] = {
    InvalidInput: (400, "invalid_request"),
    Unauthorized: (401, "unauthorized"),
    InsufficientCredits: (402, "insufficient_credits"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    IdempotencyConflict: (422, "idempotency_conflict"),
    RateLimited: (429, "rate_limited"),
    ConcurrencyLimited: (429, "concurrency_limited"),
    UpstreamUnavailable: (502, "upstream_unavailable"),
}

#: Codes for errors raised by the HTTP layer itself rather than the domain.
HTTP_CODES: dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_unavailable",
}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": safe_text(message), "data": None}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def domain_error_response(exc: DomainError) -> JSONResponse:
    status, code = 500, "internal_error"
    for cls in type(exc).__mro__:
        if cls in ERROR_CODES:
            status, code = ERROR_CODES[cls]
            break
    headers = None
    if isinstance(exc, RateLimited | ConcurrencyLimited):
        headers = {"Retry-After": str(max(1, int(exc.retry_after)))}
    return error_response(status, code, exc.message, headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            parts.append("request body is not valid JSON")
        else:
            parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    return error_response(400, "invalid_request", _validation_message(exc))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "not found"
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error_response(exc.status_code, code, message, headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path: Starlette's 405 names only
    the first route whose path matched, and one path may have a route per method."""
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        path = path[len(root) :]
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        regex = getattr(context, "path_regex", None)
        if context.methods and regex is not None and regex.match(path):
            methods |= context.methods
    return sorted(methods)


def unexpected_error_response(scope: Scope, exc: Exception) -> JSONResponse:
    """The 500 for a route that raised; the log has the details under the request id."""
    return error_response(500, "internal_error", "internal server error")


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(request.scope, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Errors a route raises on purpose, and the 500 for anything else. The request
    middleware around the app logs the unexpected ones under the request id, puts the id
    on the answer, and answers those raised where no handler could."""
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
