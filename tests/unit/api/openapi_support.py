"""Reads the served API document and checks real answers against it."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Route

from cadenza.api.acedata.document import TAG as ACEDATA_TAG

#: The JSON type of a body field: a nullable field counts as its other type.
JsonTypes = dict[str, str]


def dialect(operation: dict[str, Any]) -> str:
    """The dialect an operation speaks (``openapi`` tags AceData's by the route's class)."""
    return "acedata" if ACEDATA_TAG in operation.get("tags", ()) else "sunocore"


class Document:
    """``/openapi.json`` as served, with a check of an answer against its operation."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.paths: dict[str, dict[str, Any]] = body["paths"]
        self.schemas: dict[str, Any] = body["components"]["schemas"]

    def operations(self, of: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(method, path, operation) of every operation, or of dialect ``of``'s."""
        return [
            (method.upper(), path, operation)
            for path, item in self.paths.items()
            for method, operation in item.items()
            if of is None or dialect(operation) == of
        ]

    def json_bodies(self, of: str) -> dict[str, JsonTypes]:
        """Every POST operation of dialect ``of`` that takes a JSON body: its fields, with
        the JSON type of each."""
        found = {}
        for method, path, operation in self.operations(of):
            content = operation.get("requestBody", {}).get("content", {})
            if method != "POST" or "application/json" not in content:
                continue
            schema = self.resolve(content["application/json"]["schema"])
            found[path] = {
                name: self.json_type(field) for name, field in schema["properties"].items()
            }
        return found

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def json_type(self, schema: dict[str, Any]) -> str:
        """The JSON type a field's schema asks for (``anyOf`` with null: the other one)."""
        schema = self.resolve(schema)
        for option in schema.get("anyOf", ()):
            kind = self.json_type(option)
            if kind != "null":
                return kind
        return str(schema.get("type", "object"))

    def validate(self, body: Any, schema: dict[str, Any]) -> None:
        """Raises if ``body`` is not valid against ``schema`` (refs into the components)."""
        jsonschema_rs.validator_for({**schema, "components": self.body["components"]}).validate(
            body
        )

    def check(self, response: httpx.Response, template: str) -> Any:
        """The answer's status is documented for its operation, with its content type, its
        required headers and a schema its body validates against; returns the body."""
        method = response.request.method
        operation = self.paths[template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method} {template} answered {status}, documented: {sorted(operation['responses'])}"
        )
        documented = operation["responses"][status]
        for name, header in documented.get("headers", {}).items():
            if header.get("required"):
                assert name.lower() in response.headers, f"{status} without {name}"
        content: dict[str, Any] = documented.get("content", {})
        media_type = response.headers.get("content-type", "").split(";")[0]
        if "*/*" in content:
            return response.content
        assert media_type in content, f"{method} {template} {status}: {media_type} not in {content}"
        if media_type != "application/json":
            return response.content
        body = response.json()
        schema = {**content[media_type]["schema"], "components": self.body["components"]}
        jsonschema_rs.validator_for(schema).validate(body)
        return body


def app_routes(app: FastAPI) -> list[tuple[str, str, bool]]:
    """(method, path template, is a plain Starlette route) of every route that serves the
    API, leaving out the document's own routes, the web console's page (marked out of the
    schema) and the HEAD Starlette adds to a GET."""
    own = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, Route) or context.path_format in own:
            continue
        if not route.include_in_schema:
            continue
        plain = not isinstance(route, APIRoute)
        methods = set(context.methods or ()) - ({"HEAD"} if plain else set())
        found.extend((method, str(context.path_format), plain) for method in sorted(methods))
    return found
