"""Parsing and validating an operation's JSON arguments against its input schema.

Every problem becomes one (field, expectation) violation, so a caller (often a model) can fix
all of them in one go: bad JSON, too deep a nesting, then the schema's (runtime.schema_violations).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gumloop_mcp.runtime import schema_violations

from .errors import InvalidArguments

__all__ = ["parse_arguments", "validate_arguments"]

# Deeper than any Gumloop input; far below the interpreter's recursion limit.
_MAX_DEPTH = 64


def parse_arguments(text: str) -> dict[str, Any]:
    """Parse `arguments_json`: empty means no arguments; anything but a JSON object is refused."""
    if not text.strip():
        return {}
    too_deep = InvalidArguments([("arguments_json", f"is nested more than {_MAX_DEPTH} levels deep")])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArguments(
            [("arguments_json", f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")]
        ) from exc
    except RecursionError:
        raise too_deep from None
    if not isinstance(value, dict):
        raise InvalidArguments([("arguments_json", f"must be a JSON object, got {type(value).__name__}")])
    if _depth(value) > _MAX_DEPTH:
        # Validation, fingerprinting and encoding all recurse: refuse here rather than fail there.
        raise too_deep
    return value


def _depth(value: Any) -> int:
    """How deeply `value` nests (iteratively: the point is to avoid recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > _MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def validate_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> None:
    """Raise InvalidArguments listing every way `arguments` breaks `schema`."""
    violations = schema_violations(schema, arguments)
    if violations:
        raise InvalidArguments(violations)
