"""Reads the served API document and checks real answers against it."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Route

from cadenza.api.acedata.errors import AceDataRoute


class Document:
    """``/openapi.json`` as served, with a check of an answer against its operation."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.paths: dict[str, dict[str, Any]] = body["paths"]

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (method.upper(), path, operation)
            for path, item in self.paths.items()
            for method, operation in item.items()
        ]

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
    API, leaving out the document's own routes and the HEAD Starlette adds to a GET."""
    own = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, Route) or context.path_format in own:
            continue
        if isinstance(route, AceDataRoute):
            continue  # the AceData dialect's document is its own (not yet served)
        plain = not isinstance(route, APIRoute)
        methods = set(context.methods or ()) - ({"HEAD"} if plain else set())
        found.extend((method, str(context.path_format), plain) for method in sorted(methods))
    return found
