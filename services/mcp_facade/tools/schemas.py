"""Input and output schemas of the generated tools.

The proxy promises `$ref`-free object schemas; this module still inlines any local `$ref`
(``#/$defs/...`` or ``#/definitions/...``) defensively, because a client that cannot resolve
references would see an unusable tool. It also adds the façade's own arguments: ``limit`` and
``cursor`` on list tools, ``wait_seconds`` on status tools and ``offset``/``limit`` on the artifact
reader, replacing the upstream paging arguments the façade drives itself.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from ..contracts import LIST_LIMIT_MAX
from .artifacts import READERS

__all__ = [
    "DEFAULT_LIST_LIMIT",
    "inline_refs",
    "input_schema",
    "loosen",
    "list_output_schema",
    "list_page_size",
    "output_schema",
    "parse_schema",
]

DEFAULT_LIST_LIMIT: Final = 25
_MAX_DEPTH: Final = 32


def parse_schema(text: str) -> dict[str, Any] | None:
    """A schema from JSON text, or None when empty or not an object."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _pointer(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].lstrip("/").split("/") if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` with every local `$ref` replaced by its target and `$defs` dropped.

    Recursive references end, after a bounded depth, in an unconstrained schema with the
    description kept, so the result is always finite.
    """

    def walk(node: Any, depth: int, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, depth + 1, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node and isinstance(node["$ref"], str):
            ref = node["$ref"]
            target = _pointer(schema, ref)
            rest = {k: v for k, v in node.items() if k != "$ref"}
            if target is None or ref in seen or depth > _MAX_DEPTH:
                return {k: walk(v, depth + 1, seen) for k, v in rest.items()}
            merged = dict(walk(target, depth + 1, (*seen, ref)))
            merged.update({k: walk(v, depth + 1, seen) for k, v in rest.items()})
            return merged
        return {k: walk(v, depth + 1, seen) for k, v in node.items() if k not in ("$defs", "definitions")}

    result = walk(copy.deepcopy(schema), 0, ())
    return result if isinstance(result, dict) else {"type": "object"}


# Constraints an upstream answer may break (or a cut to fit the size cap may break); output
# schemas describe the shape for the model, they must never make a client reject a real answer.
_LOOSE_DROP: Final = frozenset(
    {
        "required",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "enum",
        "const",
        "minProperties",
        "maxProperties",
        "uniqueItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "dependentRequired",
        "$schema",
    }
)


def loosen(schema: Any) -> Any:
    """An output schema without the constraints real answers may break; types and properties kept.

    ``additionalProperties: false`` goes too, and every typed node also admits null.
    """
    if isinstance(schema, list):
        return [loosen(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _LOOSE_DROP or (key == "additionalProperties" and value is False):
            continue
        if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: loosen(sub) for name, sub in value.items()}
        else:
            out[key] = loosen(value)
    kind = out.get("type")
    if isinstance(kind, str) and kind != "null":
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    return out


def list_page_size(operation: pb.Operation) -> int:
    """The largest `limit` a list tool accepts."""
    size = operation.pagination.max_page_size
    return size if size > 0 else LIST_LIMIT_MAX


def input_schema(
    operation: pb.Operation, *, kind: str, waits: bool, max_wait_seconds: float
) -> dict[str, Any]:
    """The flat input schema of the tool for `operation`."""
    schema = inline_refs(parse_schema(operation.input_schema_json) or {})
    schema["type"] = "object"
    props: dict[str, Any] = dict(schema.get("properties") or {})
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    if kind == "list":
        for upstream in (operation.pagination.limit_parameter, operation.pagination.cursor_parameter):
            if upstream:
                props.pop(upstream, None)
                required = [r for r in required if r != upstream]
        props["limit"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": list_page_size(operation),
            "default": min(DEFAULT_LIST_LIMIT, list_page_size(operation)),
            "description": "Most items to return in this page.",
        }
        props["cursor"] = {
            "type": "string",
            "description": "The next_cursor of a previous call, to get the following page; "
            "omit for the first.",
        }
    if waits:
        props["wait_seconds"] = {
            "type": "number",
            "minimum": 0,
            "maximum": max_wait_seconds,
            "default": 0,
            "description": (
                "Seconds to wait for the work to reach a final state before answering "
                f"(0 = answer at once, at most {max_wait_seconds:g})."
            ),
        }
    if operation.name in READERS:
        props["offset"] = {
            "type": "integer",
            "minimum": 0,
            "default": 0,
            "description": "next_offset of a previous call.",
        }
        props["limit"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": 100_000,
            "default": 20_000,
            "description": "Most characters of text to return.",
        }
    for name, prop in props.items():
        if isinstance(prop, dict) and not prop.get("description"):
            prop["description"] = name.replace("_", " ").capitalize() + "."
    schema["properties"] = props
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    schema.pop("$schema", None)
    return schema


def output_schema(operation: pb.Operation) -> dict[str, Any] | None:
    """The output schema of a non-list tool, when the upstream shape is known and an object."""
    schema = parse_schema(operation.output_schema_json)
    if schema is None or schema.get("type") != "object":
        return None
    loose: dict[str, Any] = loosen(inline_refs(schema))
    loose["type"] = "object"  # MCP requires an object root
    return loose


def list_output_schema(operation: pb.Operation) -> dict[str, Any]:
    """The output schema of a list tool: ``{items: [...], next_cursor}``."""
    item: dict[str, Any] = {}
    upstream = parse_schema(operation.output_schema_json)
    field = operation.pagination.items_field
    if upstream is not None and field:
        found = (upstream.get("properties") or {}).get(field)
        if isinstance(found, dict) and isinstance(found.get("items"), dict):
            item = loosen(inline_refs({**found["items"], "$defs": upstream.get("$defs", {})}))
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as cursor to get the next page; null on the last page.",
            },
        },
        "required": ["items", "next_cursor"],
    }
