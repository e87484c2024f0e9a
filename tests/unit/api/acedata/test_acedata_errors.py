"""AceData's error envelope, and that it stays on AceData's routes."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Body, FastAPI
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from cadenza.api.acedata.errors import (
    EXCEPTION_HANDLERS,
    AceDataError,
    acedata_router,
    error_body,
    map_error,
    no_api_response,
)
from cadenza.api.acedata.requests import parse_audios
from cadenza.api.acedata.schemas import AudiosBody
from cadenza.api.sunocore.errors import install_error_handlers
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
from cadenza.domain.moderation import ContentRejected


@pytest.mark.parametrize(
    ("exc", "status", "code", "message"),
    [
        (InvalidInput("Prompt too long."), 400, "bad_request", "Prompt too long."),
        (
            InsufficientCredits("insufficient credits"),
            403,
            "used_up",
            "Your balance is not sufficient for current request, please buy more in Ace Data "
            "Cloud.",
        ),
        (
            RateLimited("slow down", 7),
            429,
            "too_many_requests",
            "You have exceeded the rate limit.",
        ),
        (
            ConcurrencyLimited("too many tasks in progress (limit 2)"),
            429,
            "too_many_requests",
            "too many tasks in progress (limit 2)",
        ),
        (
            ContentRejected("Tags contained artist name"),
            403,
            "forbidden",
            "Tags contained artist name",
        ),
        (
            Forbidden("action MUSIC is not available"),
            403,
            "forbidden",
            "action MUSIC is not available",
        ),
        (
            NotFound("clip abc not found"),
            400,
            "bad_request",
            "The song id does not exist or has been taken offline.",
        ),
        (
            NotFound("upload not found"),
            400,
            "bad_request",
            "The song id does not exist or has been taken offline.",
        ),
        (
            NotFound("persona not found"),
            400,
            "bad_request",
            "The persona id does not exist or has been deleted.",
        ),
        (NotFound("task not found"), 400, "bad_request", "The task id does not exist."),
        (IdempotencyConflict("reused key"), 400, "bad_request", "reused key"),
        (UpstreamUnavailable("database unavailable"), 500, "api_error", "database unavailable"),
        (DomainError("odd"), 500, "api_error", "odd"),
        (EngineError("boom"), 500, "api_error", "job failed with unknown error"),
        (AceDataError.not_implemented(), 400, "api_not_implemented", "The API is not implemented."),
        (AceDataError.timeout(), 504, "timeout", "timeout while waiting for audio generation"),
        (
            AceDataError.no_api(),
            404,
            "no_api",
            "API does not exist, please make sure url is correct.",
        ),
        (HTTPException(405), 404, "no_api", "API does not exist, please make sure url is correct."),
        (RuntimeError("secret detail"), 500, "api_error", "internal server error"),
    ],
)
def test_mapping(exc: Exception, status: int, code: str, message: str) -> None:
    assert map_error(exc)[:3] == (status, code, message)


def test_auth_errors() -> None:
    assert map_error(Unauthorized("missing key"), has_token=False)[:3] == (
        400,
        "no_token",
        "No token specified for the request.",
    )
    assert map_error(Unauthorized("unknown key"), has_token=True)[:3] == (
        401,
        "invalid_token",
        "The specified token is invalid or wrong.",
    )


def test_retry_after_kept() -> None:
    assert map_error(RateLimited("x", 7))[3] == {"Retry-After": "7"}
    assert map_error(ConcurrencyLimited("x", 0))[3] == {"Retry-After": "1"}


def test_envelope() -> None:
    assert error_body("forbidden", "Prompt flagged", "tr", "tk") == {
        "success": False,
        "error": {"code": "forbidden", "message": "Prompt flagged"},
        "trace_id": "tr",
        "task_id": "tk",
    }
    assert "task_id" not in error_body("bad_request", "x", "tr")
    assert error_body("bad_request", "a\x1bb", "tr")["error"]["message"] == "a\\x1bb"


# -- scoping ----------------------------------------------------------------------------


def build_app() -> FastAPI:
    """An app like Cadenza's: sunocore's handlers app-wide, AceData's routes beside."""
    app = FastAPI()
    install_error_handlers(app)
    other = APIRouter()

    @other.post("/suno/submit/music")
    def sunocore_route(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        raise InvalidInput("give a prompt")

    @other.get("/suno/fetch/{task_id}")
    def sunocore_missing(task_id: str) -> dict[str, Any]:
        raise NotFound("task not found")

    ace = acedata_router()

    @ace.post("/suno/audios")
    def audios(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        req = parse_audios(body)
        if req.description == "later":
            raise AceDataError.not_implemented()
        if req.description == "key":
            raise Unauthorized("unknown key")
        if req.description == "money":
            raise InsufficientCredits("no money")
        if req.description == "slow":
            raise RateLimited("slow down", 9)
        if req.description == "bug":
            raise ZeroDivisionError
        return {"success": True}

    @ace.post("/suno/typed")
    def typed(body: AudiosBody) -> dict[str, Any]:
        return {"success": True}

    app.include_router(other)
    app.include_router(ace)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(build_app(), raise_server_exceptions=False)


def test_acedata_routes_answer_the_envelope(client: TestClient) -> None:
    answer = client.post("/suno/audios", json={"custom": True})
    assert answer.status_code == 400
    body = answer.json()
    assert body["success"] is False and body["trace_id"]
    assert body["error"] == {
        "code": "bad_request",
        "message": "lyric is required when generate custom audio",
    }

    answer = client.post("/suno/audios", json={"prompt": "later"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "api_not_implemented")

    answer = client.post("/suno/audios", json={"prompt": "slow"})
    assert answer.status_code == 429 and answer.headers["retry-after"] == "9"
    assert answer.json()["error"]["code"] == "too_many_requests"

    answer = client.post("/suno/audios", json={"prompt": "money"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "used_up")

    answer = client.post("/suno/audios", json={"prompt": "bug"})
    assert answer.status_code == 500
    assert answer.json()["error"] == {"code": "api_error", "message": "internal server error"}


def test_token_presence_decides_the_auth_code(client: TestClient) -> None:
    bare = client.post("/suno/audios", json={"prompt": "key"})
    assert (bare.status_code, bare.json()["error"]["code"]) == (400, "no_token")
    wrong = client.post(
        "/suno/audios", json={"prompt": "key"}, headers={"Authorization": "Bearer nope"}
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_token")


def test_framework_validation_errors_use_seed_words(client: TestClient) -> None:
    answer = client.post("/suno/typed", json={"instrumental": "no"})
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "bad_request",
        "message": "instrumental must be a boolean",
    }
    answer = client.post(
        "/suno/typed", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.json()["error"]["message"] == "The request body is not valid JSON."


def test_sunocore_answers_are_untouched(client: TestClient) -> None:
    answer = client.post("/suno/submit/music", json={})
    assert answer.status_code == 400
    assert answer.json() == {"code": "invalid_request", "message": "give a prompt", "data": None}
    answer = client.get("/suno/fetch/x")
    assert answer.status_code == 404
    assert answer.json() == {"code": "not_found", "message": "task not found", "data": None}
    answer = client.get("/nowhere")
    assert answer.json() == {"code": "not_found", "message": "not found", "data": None}


def test_no_api_response() -> None:
    answer = no_api_response({"type": "http", "state": {"request_id": "r1"}})
    assert answer.status_code == 404
    assert answer.body == (
        b'{"success":false,"error":{"code":"no_api","message":"API does not exist, please make '
        b'sure url is correct."},"trace_id":"r1"}'
    )


def test_handlers_for_a_mounted_sub_application() -> None:
    sub = FastAPI(exception_handlers=EXCEPTION_HANDLERS)

    @sub.post("/audios")
    def audios() -> None:
        raise InvalidInput("Title too long.")

    app = FastAPI()
    install_error_handlers(app)
    app.mount("/ace", sub)
    answer = TestClient(app).post("/ace/audios")
    assert answer.status_code == 400
    assert answer.json()["error"] == {"code": "bad_request", "message": "Title too long."}
