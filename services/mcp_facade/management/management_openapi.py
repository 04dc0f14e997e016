"""The OpenAPI 3.1 document of the management API, generated from the route table and pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from .management_models import ID_PATTERN, MAX_ROTATION_GRACE_S, MIN_EXPIRY_LEAD_S, ErrorEnvelope, Route

__all__ = ["openapi_document"]

_ERRORS = {
    "400": "Invalid input (field violations in error.fields, each also named in error.message)",
    "401": "Missing or invalid API token",
    "403": "The API token does not grant this route, or the Origin is not allowed",
    "404": "Not found (also: a malformed id, an unknown route)",
    "405": "Method not allowed: the path (e.g. with an empty id) names another route",
    "421": "The Host is not allowed on the admin port",
    "503": "A backend service is unavailable",
}
# Only where they can happen: conflicts on writes, a too-large body where there is one.
_WRITE_ERRORS = {
    "409": "Conflict: already exists, or concurrent changes (retry)",
    "429": "A backend refused for load; retry later",
}
_BODY_ERRORS = {"413": "The body is larger than GMCP_FACADE_MAX_BODY_BYTES"}
_DESCRIPTION = f"""Management of integrated accounts, MCP servers and API tokens.

Every route except /openapi.json and the OAuth callback needs
`Authorization: Bearer <management API token>`.
Every error answers the JSON envelope `{{"error": {{"code", "message", "fields"}}}}`.

- `expires_at` must lie at least {MIN_EXPIRY_LEAD_S} s ahead (the token service's
  GMCP_TOKENS_MIN_EXPIRY_LEAD_S; the 400 names the minimum in force).
- Rotation takes an optional `grace_period_seconds` (0 to {MAX_ROTATION_GRACE_S}): the old URL
  keeps working that long, never past the server's own expiry.
- `config.methods` takes method groups or operation names and `config.tags` takes tags, all
  listed by `GET /catalog`; an unknown value is a 400 naming the valid ones.
- Connecting a Gumloop account by OAuth: `POST /integrated-account/oauth/start` returns an
  `authorization_url` to open in a browser; Gumloop sends it back to
  `GET /integrated-account/oauth/callback`, which stores the tokens (the proxy refreshes them) and
  answers JSON, or a page (`text/html`) when the request prefers it (a browser).
  `POST /integrated-account/{{account_id}}/oauth/start` reconnects an account in `needs_reconnection`.
- `next_cursor` is opaque: pass back the value a listing returned (another value is a 400).
"""


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation_id(route: Route) -> str:
    return route.handler.__name__


def openapi_document(routes: Iterable[Route]) -> dict[str, Any]:
    """The document: every route with its body, response and error schemas, bearer auth."""
    components: dict[str, Any] = {}
    error_ref = _schema(ErrorEnvelope, components)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}}
            for p in re.findall(r"{(\w+)}", route.path)
        ]
        if route.paged:
            params += [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                {
                    "name": "next_cursor",
                    "in": "query",
                    "description": "the next_cursor of the previous page, unchanged",
                    "schema": {"type": "string"},
                },
            ]
        params += list(route.query)
        op: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": (route.handler.__doc__ or "").strip().splitlines()[0],
            "security": [] if route.public else [{"bearer": []}],
            "responses": {},
        }
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {
                "required": not route.body_optional,
                "content": {"application/json": {"schema": _schema(route.body, components)}},
            }
        if route.response is None:
            op["responses"][str(route.status)] = {"description": "Done"}
        else:
            ref = _schema(route.response, components)
            if route.paged:
                ref = {
                    "type": "object",
                    "properties": {
                        "result": {"type": "array", "items": ref},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                    "required": ["result", "next_cursor"],
                }
            op["responses"][str(route.status)] = {
                "description": "OK",
                "content": {
                    "application/json": {"schema": ref},
                    **{media: {"schema": {"type": "string"}} for media in route.alt_content},
                },
            }
        errors = dict(_ERRORS)
        if route.public:
            errors.pop("401")
            errors["409"] = "Gumloop refused the authorization or the code"
        if route.method != "GET":
            errors.update(_WRITE_ERRORS)
        if route.body is not None:
            errors.update(_BODY_ERRORS)
        # A route that answers browsers a page (the OAuth callback) answers them its errors as a page too.
        error_pages = (
            {"text/html": {"schema": {"type": "string"}}} if "text/html" in route.alt_content else {}
        )
        for code, text in sorted(errors.items()):
            op["responses"][code] = {
                "description": text,
                "content": {"application/json": {"schema": error_ref}, **error_pages},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "gumloop-mcp management API", "version": "1", "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
