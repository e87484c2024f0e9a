"""The AceData dialect in ``/openapi.json``: its error table, its key, its answers.

``cadenza.api.openapi`` completes every operation of an ``AceDataRoute`` with ``ACEDATA``:
errors in AceData's envelope (``models.AceDataErrorBody``) with the statuses of the
contract's table (400 for a missing key or a bad field, 401 for a wrong key, 429 with
``Retry-After``, 413 for a body over the cap, 500 everywhere), no 422 (an
``Idempotency-Key`` reused with another body is a 400 here), the ``Authorization: Bearer``
scheme (and ``X-API-Key``, which the key is read from too), and the ``AceData`` tag. A
route adds only what is its own::

    @router.post("/suno/x", responses=documented(XAnswer, 403, 504),
                 openapi_extra=json_body(XBody, name="AceDataXBody"))
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cadenza.api.acedata.errors import AceDataRoute
from cadenza.api.acedata.models import AceDataErrorBody
from cadenza.api.documenting import API_KEY, BEARER, Dialect, OperationFacts, component_ref

NDJSON = "application/x-ndjson"

#: The codes each status carries, and when it is answered (contract §1, §5).
TABLE: dict[int, tuple[tuple[str, ...], str]] = {
    400: (
        ("no_token", "bad_request", "api_not_implemented"),
        "no key was sent; a field is missing or invalid, the body is not a JSON object, "
        "or what it names (a song, a persona, a task) does not exist; the action is not "
        "served",
    ),
    401: (("invalid_token",), "the key is unknown or revoked"),
    403: (
        ("used_up", "forbidden"),
        "the balance does not cover the price (nothing is created or charged); the "
        "moderation lists refused the text, or the action's price is disabled",
    ),
    404: (("no_api",), "no such API"),
    413: (("payload_too_large",), "the request body is over the size cap"),
    429: (
        ("too_many_requests",),
        "over the key's requests per minute, or as many queued and running tasks as its "
        "concurrency limit; retry after Retry-After seconds",
    ),
    500: (
        ("api_error",),
        "the task failed (``task_id`` names it, ``data`` holds any clip that can still "
        "be played), or an unexpected failure the server log has under the trace_id",
    ),
    504: (
        ("timeout",),
        "the task did not end within the server's wait; it goes on: poll /suno/tasks "
        "with ``task_id``",
    ),
}

#: AceData's clients send ``Authorization: Bearer``; the key is read from ``X-API-Key``
#: too (``deps.read_secret``), so the document says both, Bearer first.
SECURITY: list[dict[str, list[str]]] = [{BEARER.scheme_name: []}, {API_KEY.scheme_name: []}]
TAG = "AceData"


def error_response(status: int) -> dict[str, Any]:
    """The envelope answered with ``status``, its codes and when."""
    codes, when = TABLE.get(status, ((), "an error"))
    response: dict[str, Any] = {
        "description": f"{' | '.join(codes) or 'error'}: {when}",
        "content": {"application/json": {"schema": component_ref(AceDataErrorBody)}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before trying again",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


def statuses(facts: OperationFacts) -> set[int]:
    """What every operation with ``facts`` can answer; the rest a route declares."""
    found = {500}
    if facts.keyed:
        found |= {400, 401, 429}  # 400: no_token
    if facts.has_body or facts.places:
        found.add(400)
    if facts.has_body:
        found.add(413)
    return found


ACEDATA = Dialect(
    name="acedata",
    route_class=AceDataRoute,
    error_response=error_response,
    statuses=statuses,
    security=SECURITY,
    tags=(TAG,),
)


def documented(
    answer: Any,
    *errors: int,
    stream: type[BaseModel] | None = None,
    description: str | None = None,
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of an AceData route: its 200 (a model, or a union of models, with
    the model's first doc line or ``description``), the errors only it can answer (those
    every route shares are added by the builder) and, with ``stream``, the model of each
    line of its ``application/x-ndjson`` answer."""
    responses: dict[int | str, dict[str, Any]] = {}
    if answer is not None:
        doc = answer.__doc__ if isinstance(answer, type) else None
        summary = description or (doc or "").strip().split("\n")[0]
        responses[200] = {"model": answer, "description": summary or "Success"}
        if stream is not None:
            responses[200]["description"] += (
                f"; with Accept: {NDJSON}, a stream of {stream.__name__}, one JSON object per line"
            )
            responses[200]["content"] = {NDJSON: {"schema": component_ref(stream)}}
    for status in errors:
        responses[status] = error_response(status)
    return responses
