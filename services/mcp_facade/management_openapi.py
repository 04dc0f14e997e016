"""The OpenAPI 3.1 document of the management API, generated from the route table and pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .management_models import ErrorEnvelope

if TYPE_CHECKING:
    from .management import Route

__all__ = ["openapi_document"]

_ERRORS = {
    "400": "Invalid input (field violations in error.fields)",
    "401": "Missing or invalid API token",
    "404": "Not found",
    "503": "A backend service is unavailable",
}


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
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in re.findall(r"{(\w+)}", route.path)
        ]
        if route.paged:
            params += [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                {"name": "next_cursor", "in": "query", "schema": {"type": "string"}},
            ]
        op: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": (route.handler.__doc__ or "").strip().splitlines()[0],
            "security": [{"bearer": []}],
            "responses": {},
        }
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
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
                "content": {"application/json": {"schema": ref}},
            }
        for code, text in _ERRORS.items():
            op["responses"][code] = {
                "description": text,
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "gumloop-mcp management API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
