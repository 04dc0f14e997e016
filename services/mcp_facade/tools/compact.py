"""The published form of a tool definition: what a model reads, at the fewest tokens that keep it useful.

The façade keeps each tool's full definition for its own work (arguments are validated against the
full inputSchema, with its id patterns, bounds and ``additionalProperties: false``, so unknown or
malformed arguments are still refused with a clear message; structuredContent is made to conform to
the full outputSchema). tools/list publishes a compact copy, because every byte of it costs model
context on every turn (issue 14: the 134-tool list within 13.9k tokens, ``tests/unit/mcp_facade/
test_context_cost.py``):

* ``title`` and ``outputSchema`` are left out: the title is a display name for people (MCP clients
  fall back to the name) and the description's first words say the same; what comes back is read
  in the answer (structuredContent is still sent; MCP allows it without a declared schema), so the
  catalog's prose names only returned fields a model must pass on (an id, a secret URL);
* annotations keep only hints that differ from MCP's defaults (readOnlyHint false, destructiveHint
  true, idempotentHint false, openWorldHint true), and never repeat the title;
* inputSchema drops what only the server's own validation needs (string patterns and lengths, item
  and property counts, ``additionalProperties: false``, defaults, a lower bound of 0 or 1);
* a ``type`` the rest of the node implies goes (below the root): ``string``, because a value of no
  declared type is written as a string; ``object`` beside ``properties``; ``array`` beside ``items``;
  ``boolean`` beside an enum of booleans. Integers, numbers, booleans, free-form objects and arrays,
  unions and the root's ``type: object`` (MCP requires it) stay: they are what a model would get wrong;
* a description that only restates the property name goes ("The agent id." on agent_id, "Only this
  grade." on a list filter ``grade``); the catalog still describes every argument for its other
  readers (gRPC ListOperations, the management API), and a catalog text meant for people only is
  written in that restating form;
* ``limit``, ``cursor`` and ``wait_seconds`` lose their descriptions and a list tool's ``limit`` its
  usual bound (contracts.LIST_LIMIT_MAX): the server instructions (protocol.INSTRUCTIONS) state paging
  once, and the status tool's description says what wait_seconds waits for. A list with another
  bound publishes it; the façade refuses a limit above either bound, naming it.

Kept everywhere: names, enums, required lists, nested shapes, other upper bounds, formats, and every
description that says something the name does not (where an id comes from, what to call next, async
completion, side effects, secrets).
"""

from __future__ import annotations

import re
from typing import Any, Final

from ..contracts import LIST_LIMIT_MAX

__all__ = ["published"]

_MCP_DEFAULT_HINTS: Final = {
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}
# Keywords the server enforces itself: a model gains nothing from reading them.
_VALIDATION_ONLY: Final = frozenset(
    {
        "pattern",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "additionalProperties",
        "default",
        "title",
    }
)
_WORD: Final = re.compile(r"[a-z0-9]+")
_FILLER: Final = frozenset(
    {"the", "a", "an", "id", "ids", "of", "its", "this", "new", "display", "only", "these"}
)
# Arguments every list or status tool shares, explained once in the server instructions (and, for
# wait_seconds, in the status tool's own description with its final states).
_STATED_ONCE: Final = frozenset({"limit", "cursor", "wait_seconds"})


def published(definition: dict[str, Any], *, paged: bool = False) -> dict[str, Any]:
    """The compact copy of a full tool definition that tools/list shows (`paged`: a list tool)."""
    out: dict[str, Any] = {
        key: value
        for key, value in definition.items()
        if key not in ("outputSchema", "annotations", "inputSchema", "title")
    }
    out["inputSchema"] = _schema(definition["inputSchema"], top=True)
    limit = out["inputSchema"]["properties"].get("limit")
    if paged and isinstance(limit, dict) and limit.get("maximum") == LIST_LIMIT_MAX:
        del limit["maximum"]  # the server instructions state the usual bound once
    hints = {
        key: value
        for key, value in (definition.get("annotations") or {}).items()
        if key != "title" and _MCP_DEFAULT_HINTS.get(key) != value
    }
    if hints.get("readOnlyHint"):
        # destructive and idempotent hints are meaningful only for tools that are not read-only
        hints.pop("destructiveHint", None)
        hints.pop("idempotentHint", None)
    if hints:
        out["annotations"] = hints
    return out


def _schema(schema: Any, *, top: bool = False, name: str = "") -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _VALIDATION_ONLY or (key == "minimum" and value in (0, 1) and not isinstance(value, bool)):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {prop: _schema(sub, name=prop) for prop, sub in value.items()}
        elif key in ("items", "not") and isinstance(value, dict):
            out[key] = _schema(value)
        elif key in ("oneOf", "anyOf", "allOf") and isinstance(value, list):
            out[key] = [_schema(sub) for sub in value]
        elif key == "description" and isinstance(value, str) and _adds_nothing(value, name):
            continue
        else:
            out[key] = value
    if top:
        out["type"] = "object"
        out.setdefault("properties", {})
    elif _implied(out):
        del out["type"]
    return out


def _implied(node: dict[str, Any]) -> bool:
    """Whether the node's ``type`` says nothing its other keywords do not (below the root only)."""
    kind = node.get("type")
    if kind == "string":
        return True  # a value of no declared type is written as a string: the plain case
    if kind == "object":
        return "properties" in node
    if kind == "array":
        return "items" in node
    enum = node.get("enum")
    if kind == "boolean" and isinstance(enum, list) and enum:
        return all(isinstance(v, bool) for v in enum)
    return False


def _adds_nothing(description: str, name: str) -> bool:
    """A description a model learns nothing from: the shared arguments (the server instructions
    explain limit, cursor and wait_seconds once), or one that only repeats the property name
    ("The agent id." for agent_id, "New name." for name)."""
    if name in _STATED_ONCE:
        return True
    if not name:
        return False
    said = {w for w in _WORD.findall(description.lower()) if w not in _FILLER}
    named = {w for w in _WORD.findall(name.replace("_", " ").lower()) if w not in _FILLER}
    return bool(said) and said <= named
