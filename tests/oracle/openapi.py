"""Gumloop's published OpenAPI documents (``ROOT.parent / "shared" / "gumloop-openapi"``) as response
validators: an OpenAPI 3.0 response schema is checked with openapi-schema-validator's OAS30Validator, which
reads 3.0's own keywords (``nullable``, ``example``...) as 3.0 means them; local ``$ref``s are inlined."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT.parent / "shared" / "gumloop-openapi"
METHODS = ("get", "post", "put", "patch", "delete")


def _inline(node: Any, doc: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target: Any = doc
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            return _inline(target, doc)
        return {k: _inline(v, doc) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, doc) for v in node]
    return node


@dataclass
class Operation:
    """One documented operation: its 2xx statuses and their JSON response schemas."""

    method: str
    template: str
    pattern: re.Pattern[str]
    schemas: dict[int, dict[str, Any]] = field(default_factory=dict)
    success: set[int] = field(default_factory=set)


@cache
def documents() -> dict[str, dict[str, Any]]:
    """Every document by file name."""
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(DOCS.glob("*.yml"))}


@cache
def operations() -> list[Operation]:
    """Every documented operation."""
    out: list[Operation] = []
    for doc in documents().values():
        for template, item in doc["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                entry = Operation(method.upper(), template, pattern)
                for code, answer in (op.get("responses") or {}).items():
                    if not str(code).startswith("2"):
                        continue
                    entry.success.add(int(code))
                    schema = ((answer.get("content") or {}).get("application/json") or {}).get("schema")
                    if schema is not None:
                        entry.schemas[int(code)] = _inline(schema, doc)
                out.append(entry)
    return out


def operation_for(method: str, route: str) -> Operation | None:
    """The documented operation serving ``method route`` (route without /api/v1 or /ws/api/v1)."""
    if (method, route) in SDK_ONLY_ROUTES:
        return None
    matches = [op for op in operations() if op.method == method and op.pattern.match(route)]
    # A literal segment beats a parameter (/agents/{id}/evaluations/metrics vs .../{evaluation_id}).
    return min(matches, key=lambda op: op.template.count("{"), default=None)


def route_of(path: str) -> str:
    """A request path without its API prefix."""
    for prefix in ("/ws/api/v1", "/api/v1"):
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


def problems(method: str, path: str, status: int, body: Any) -> list[str]:
    """Why an answer does not match the documents (empty: it does, or they say nothing of it)."""
    op = operation_for(method, route_of(path))
    if op is None or status >= 300:
        return []
    where = f"{method} {op.template} -> {status}"
    if status not in op.success:
        return [f"{where}: documented success statuses are {sorted(op.success)}"]
    schema = op.schemas.get(status)
    if schema is None:
        return []
    out = []
    for error in OAS30Validator(schema).iter_errors(body):
        path = "/".join(map(str, error.absolute_path))
        if not _tolerated(op, path, error.instance, error.validator):
            out.append(f"{where}: {path or '<root>'}: {error.message}")
    return out


def _tolerated(op: Operation, path: str, instance: Any, validator: Any) -> bool:
    """Whether a schema error is one of the listed disagreements the SDK or the README settles."""
    generic = re.sub(r"/\d+(?=/|$)", "/*", path)
    if instance is None and generic in SDK_NULLABLE.get((op.method, op.template), {}):
        return True
    field_name = path.rsplit("/", 1)[-1]
    extra = EXTRA_ENUM.get(field_name)
    return validator == "enum" and extra is not None and instance in extra[0]


# Routes only the SDK calls whose literal segment a documented template would take for a parameter.
SDK_ONLY_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/agents/evaluation-options"): "Agents.get_evaluation_options, not GET /agents/{agent_id}",
}
# Where Gumloop's two sources disagree, the SDK and the documents' README win over a document's schema
# (gumloop-openapi/README.md). Each entry: the operation, the answer's JSON path (``*`` = any list index)
# and why. A null is tolerated only where listed; an extra enum value likewise.
SDK_NULLABLE: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/agents"): {
        "next_cursor": "the document's own example answers next_cursor: null on the last page",
        "agents/*/folder_id": "gumloop.types.Agent.folder_id is Optional (an agent outside any folder)",
    },
}
EXTRA_ENUM: dict[str, tuple[set[str], str]] = {
    "state": ({"approval_required"}, "README: sessions have a state approval_required (SDK PendingApproval)"),
}
