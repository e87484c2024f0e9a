"""What ``openapi`` needs to know of a dialect to complete its operations.

Each dialect answers errors in its own envelope, with its own statuses, and is reached
with its own credentials; the route's class says which dialect a route speaks
(``Dialect.route_class``). This module holds what both the document builder and the
dialects' route modules use, so neither imports the other: the ``Dialect`` description,
the security schemes, and models a route names by reference (``json_body`` for a body
it reads itself, ``component_ref`` for an answer FastAPI cannot see, such as a stream).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel

#: The two ways to send a key (``deps.read_secret``). Used only to describe them: the
#: key is read and checked by ``current_key``.
API_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="The API key (`cadenza keys create`).",
    auto_error=False,
)
BEARER = HTTPBearer(
    scheme_name="Bearer",
    description="The same API key as `Authorization: Bearer <key>`.",
    auto_error=False,
)

REF_PREFIX = "#/components/schemas/"
SchemaMode = Literal["validation", "serialization"]


@dataclass(frozen=True)
class OperationFacts:
    """What an operation takes, from which its dialect decides the errors it can answer."""

    keyed: bool
    has_body: bool
    #: Where its parameters are (``path``, ``query``, ``header``).
    places: frozenset[str]
    #: It takes an ``Idempotency-Key`` header.
    idempotent: bool


@dataclass(frozen=True)
class Dialect:
    """How the operations of one dialect's routes are completed."""

    name: str
    #: Routes of this class (and subclasses) speak this dialect; None: the default one.
    route_class: type[APIRoute] | None
    #: The response object of an error status: description, the dialect's envelope (a
    #: ``component_ref``, or a schema the builder adds itself), headers.
    error_response: Callable[[int], dict[str, Any]]
    #: The error statuses every operation with these facts can answer.
    statuses: Callable[[OperationFacts], set[int]]
    security: list[dict[str, list[str]]]
    #: Tags added to every operation (groups them in the docs; empty: none).
    tags: tuple[str, ...] = ()


# -- models named by reference --------------------------------------------------------

#: name -> (model, schema mode) of every model a route named through this module.
_NAMED: dict[str, tuple[type[BaseModel], SchemaMode]] = {}


def component_ref(
    model: type[BaseModel], *, name: str | None = None, mode: SchemaMode = "serialization"
) -> dict[str, str]:
    """``{"$ref": ...}`` to ``model``'s schema, which the document builder adds to the
    components (``add_named_components``) when an operation refers to it."""
    name = name or model.__name__
    known = _NAMED.get(name)
    if known is not None and known != (model, mode):
        raise ValueError(f"two models documented as {name}: {known[0]} and {model}")
    _NAMED[name] = (model, mode)
    return {"$ref": REF_PREFIX + name}


def json_body(
    model: type[BaseModel],
    *,
    name: str | None = None,
    required: bool = False,
    examples: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``openapi_extra=`` of a route that reads its JSON body itself (to keep it as sent,
    or to answer its errors in its dialect's words): the body it reads, as if FastAPI had
    read it. ``name`` keeps two dialects' bodies of one class name apart; ``examples``
    (name -> body) show a client, and a fuzzer, requests the route accepts."""
    media: dict[str, Any] = {"schema": component_ref(model, name=name, mode="validation")}
    if examples:
        media["examples"] = {key: {"value": value} for key, value in examples.items()}
    return {"requestBody": {"required": required, "content": {"application/json": media}}}


def query_parameter(
    name: str, schema: dict[str, Any], *, required: bool = False, description: str = ""
) -> dict[str, Any]:
    """One entry of ``openapi_extra={"parameters": [...]}``, for a route that reads its
    query string itself."""
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": required}
    if description:
        parameter["description"] = description
    parameter["schema"] = schema
    return parameter


def add_named_components(document: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Adds to ``schemas`` every model named through this module that ``document``
    refers to, with the models they nest (a name taken by another schema is an error)."""
    text = json.dumps(document)
    for name, (model, mode) in sorted(_NAMED.items()):
        if f'"{REF_PREFIX}{name}"' not in text:
            continue
        schema = _without_none(
            model.model_json_schema(ref_template=REF_PREFIX + "{model}", mode=mode)
        )
        for nested, nested_schema in schema.pop("$defs", {}).items():
            _put(schemas, nested, nested_schema)
        _put(schemas, name, schema)


def _without_none(value: Any) -> Any:
    """The schema as FastAPI writes its own (``exclude_none``: no ``"default": null``),
    so that a model FastAPI and this module both add is one schema."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _put(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    known = schemas.setdefault(name, schema)
    if known != schema:
        raise ValueError(f"two schemas named {name} in the API document")
