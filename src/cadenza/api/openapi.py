"""``/openapi.json``: FastAPI's document, completed so that it is the API.

FastAPI documents what it sees: its own routes, a 200 and its 422 validation error. The
API answers otherwise, so this module builds the document once (cached until the routes
change) and completes every operation the way its dialect answers, whoever wrote the
route. The route's class tells the dialect (``documenting.Dialect``): AceData's routes
(``AceDataRoute``) are completed by ``cadenza.api.acedata.document``, every other route
as sunocore's, here:

* the plain Starlette polling routes (``sunocore.polling``, ahead of FastAPI for speed)
  are described by twins declared like FastAPI routes (``_PLAIN``), never called;
* every error a route can answer, in the error envelope: 401, 429 (with ``Retry-After``)
  and 502 on keyed routes, 400 where there is a body or a query/header parameter, 413
  where there is a body, 404 where the path names something, 500 everywhere, plus what
  the route declares through ``documented``; FastAPI's 422 is dropped except on submits
  with an ``Idempotency-Key`` header, where it means ``idempotency_conflict``;
* the ``X-API-Key`` and ``Authorization: Bearer`` schemes on every route that depends on
  ``current_key``/``fresh_key``.

Routes state only what is theirs: ``responses=documented(SuccessModel, 402, 403, ...)``.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

from cadenza.api.acedata.document import ACEDATA
from cadenza.api.deps import CurrentKey, current_key, fresh_key
from cadenza.api.documenting import (
    API_KEY,
    BEARER,
    REF_PREFIX,
    Dialect,
    OperationFacts,
    add_named_components,
)
from cadenza.api.sunocore.answers import ErrorBody, TaskAnswer, TaskIdAnswer, TaskListAnswer
from cadenza.api.sunocore.errors import ERROR_CODES, HTTP_CODES
from cadenza.api.sunocore.schemas import FetchBody

__all__ = ["API_KEY", "BEARER", "SECURITY", "build_document", "documented", "install"]

SECURITY: list[dict[str, list[str]]] = [{API_KEY.scheme_name: []}, {BEARER.scheme_name: []}]

#: When each error status is answered; the codes come from the dialect's error table.
_WHEN: dict[int, str] = {
    400: "a missing or invalid parameter, a body that is not valid JSON or of wrong types",
    401: "the key is missing, unknown or revoked",
    402: "the balance does not cover the price; nothing is created or charged",
    403: "the action's price is disabled, or the route needs an admin key",
    404: "what the request names is missing or belongs to another key",
    413: "the request body is too large",
    422: "this Idempotency-Key was used before with a different body",
    429: "over the key's requests per minute, or as many queued and running tasks as its "
    "concurrency limit; retry after Retry-After seconds",
    500: "an unexpected failure; the server log has it under the X-Request-ID",
    502: "a backend (database, broker, storage, limiter store) is unreachable",
}
_ERROR_REF = REF_PREFIX + ErrorBody.__name__
_IDEMPOTENCY_HEADER = "idempotency-key"


def _codes(status: int) -> list[str]:
    codes = [code for known, code in ERROR_CODES.values() if known == status]
    fallback = HTTP_CODES.get(status)
    if fallback and fallback not in codes:
        codes.append(fallback)
    return codes


def error_response(status: int) -> dict[str, Any]:
    """The error envelope answered with ``status``, its codes and when (without a model,
    for use in an already built document)."""
    response: dict[str, Any] = {
        "description": f"{' | '.join(_codes(status))}: {_WHEN.get(status, 'an error')}",
        "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
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


#: A submit's task id is polled with ``GET /suno/fetch/{task_id}``: the link tells
#: generated clients and stateful fuzzers where the id goes.
POLL_LINK: dict[str, Any] = {
    "poll": {
        "operationId": "fetch_task",
        "parameters": {"task_id": "$response.body#/data"},
        "description": "poll the new task until it is SUCCESS or FAILURE",
    }
}


def documented(answer: type[BaseModel] | None, *errors: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: its success answer and the errors that only it can give
    (those every keyed route shares are added by ``build_document``)."""
    responses: dict[int | str, dict[str, Any]] = {}
    if answer is not None:
        summary = (answer.__doc__ or "").strip().split("\n")[0]
        responses[200] = {"model": answer, "description": summary or "Success"}
        if answer is TaskIdAnswer:
            responses[200]["links"] = POLL_LINK
    for status in errors:
        response = error_response(status)
        del response["content"]
        responses[status] = {"model": ErrorBody, **response}
    return responses


# -- the plain routes, declared for the document only ---------------------------------


def _fetch_one(task_id: str, key: CurrentKey) -> None: ...


def _fetch_many(body: Annotated[FetchBody, Body()], key: CurrentKey) -> None: ...


#: Twins of the plain Starlette routes, by (method, path): what FastAPI would see if they
#: were its routes.
_PLAIN: dict[tuple[str, str], tuple[str, Callable[..., None], dict[int | str, dict[str, Any]]]] = {
    ("GET", "/suno/fetch/{task_id}"): ("fetch_task", _fetch_one, documented(TaskAnswer)),
    ("POST", "/suno/fetch"): ("fetch_tasks", _fetch_many, documented(TaskListAnswer)),
}


def _undocumented(route: Route) -> Callable[..., None]:
    """A stand-in with the route's path parameters, for a plain route not in ``_PLAIN``."""

    def endpoint(**_: str) -> None: ...

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
            for name in route.param_convertors
        ]
    )
    return endpoint


def _twins(route: Route) -> list[APIRoute]:
    twins = []
    for method in sorted((route.methods or set()) - {"HEAD"}):
        known = _PLAIN.get((method, route.path))
        operation_id, endpoint, responses = known or (None, _undocumented(route), {})
        twins.append(
            APIRoute(
                route.path,
                endpoint,
                methods=[method],
                name=route.name,
                operation_id=operation_id,
                description=route.endpoint.__doc__,
                responses=responses,
                response_model=None,
            )
        )
    return twins


def _documented_routes(routes: Sequence[BaseRoute]) -> list[RouteContext]:
    """Every route as FastAPI's document generator takes it, plain routes as twins."""
    found: list[RouteContext] = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute) and isinstance(route, Route) and route.include_in_schema:
            found.extend(RouteContext(twin) for twin in _twins(route))
        else:
            found.append(context)
    return found


# -- completing the operations --------------------------------------------------------


def _is_keyed(dependant: Dependant) -> bool:
    return any(
        dep.call in (current_key, fresh_key) or _is_keyed(dep) for dep in dependant.dependencies
    )


def _sunocore_statuses(facts: OperationFacts) -> set[int]:
    statuses = {500}
    if facts.keyed:
        statuses |= {401, 429, 502}
    if facts.has_body or facts.places & {"query", "header"}:
        statuses.add(400)
    if facts.has_body:
        statuses.add(413)
    if "path" in facts.places:
        statuses.add(404)
    if facts.idempotent:
        statuses.add(422)
    return statuses


SUNOCORE = Dialect(
    name="sunocore",
    route_class=None,
    error_response=error_response,
    statuses=_sunocore_statuses,
    security=SECURITY,
)
#: The dialects whose routes are told by their class; any other route is sunocore's.
DIALECTS: tuple[Dialect, ...] = (ACEDATA,)


def dialect_of(route: BaseRoute) -> Dialect:
    """The dialect a route answers in, from its class."""
    for dialect in DIALECTS:
        if dialect.route_class is not None and isinstance(route, dialect.route_class):
            return dialect
    return SUNOCORE


def _complete(operation: dict[str, Any], route: RouteContext, dialect: Dialect) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for response in responses.values():
        # FastAPI merges a declared model into the inferred ``dict[str, Any]`` schema.
        for media in response.get("content", {}).values():
            schema = media.get("schema")
            if isinstance(schema, dict) and "$ref" in schema:
                media["schema"] = {"$ref": schema["$ref"]}
    parameters = operation.get("parameters", [])
    facts = OperationFacts(
        keyed=_is_keyed(route.dependant),
        has_body="requestBody" in operation,
        places=frozenset(param["in"] for param in parameters),
        idempotent=any(
            param["in"] == "header" and param["name"].lower() == _IDEMPOTENCY_HEADER
            for param in parameters
        ),
    )
    if facts.keyed:
        operation["security"] = dialect.security
    for tag in dialect.tags:
        tags: list[str] = operation.setdefault("tags", [])
        if tag not in tags:
            tags.append(tag)
    statuses = dialect.statuses(facts)
    if 422 in statuses:
        responses["422"] = dialect.error_response(422)
    elif "422" in responses and 422 not in route.responses:
        del responses["422"]  # FastAPI's validation error: the API answers 400 instead
    for status in sorted(statuses):
        responses.setdefault(str(status), dialect.error_response(status))
    operation["responses"] = dict(sorted(responses.items()))


def build_document(app: FastAPI) -> dict[str, Any]:
    """The whole document: FastAPI's, for every route and the plain routes' twins, with
    every operation completed (``_complete``)."""
    routes = _documented_routes(app.routes)
    with warnings.catch_warnings():
        # A route with two methods (media's GET and HEAD) gets one id twice: fixed below.
        warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=routes,
            servers=app.servers,
        )
    for route in routes:
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        item = document["paths"].get(route.path_format, {})
        methods = route.methods or set()
        dialect = dialect_of(route.original_route)
        for method in methods:
            operation = item.get(method.lower())
            if operation is None:
                continue
            _complete(operation, route, dialect)
            if len(methods) > 1 and not route.operation_id:
                # FastAPI's default id, but of this method rather than of the route's first.
                name = re.sub(r"\W", "_", f"{route.name}{route.path_format}")
                operation["operationId"] = f"{name}_{method.lower()}"
    components: dict[str, Any] = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.setdefault(ErrorBody.__name__, ErrorBody.model_json_schema())
    add_named_components(document, schemas)  # other dialects' envelopes among them
    components["schemas"] = dict(sorted(schemas.items()))
    components["securitySchemes"] = {
        scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
        for scheme in (API_KEY, BEARER)
    }
    return document


def install(app: FastAPI) -> None:
    """Serves ``build_document`` at ``app.openapi_url``, rebuilt only when routes change."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        routes = tuple(app.routes)
        if cache.get("routes") != routes:
            cache["document"] = build_document(app)
            cache["routes"] = routes
        app.openapi_schema = cache["document"]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
