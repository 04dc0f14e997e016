"""Parsing and validating an operation's JSON arguments against its input schema.

Every problem becomes one (field, expectation) violation, so a caller (often a model) can fix
all of them in one go: bad JSON, too deep a nesting, values no JSON encoder will send on (NaN,
Infinity, numbers that overflow to them, strings with lone surrogates), then the schema's
(runtime.schema_violations).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from gumloop_mcp.runtime import json_loads, schema_violations

from .errors import InvalidArguments

__all__ = ["parse_arguments", "validate_arguments"]

# Deeper than any Gumloop input; far below the interpreter's recursion limit.
_MAX_DEPTH = 64
# Unsendable values reported at most; the rest are found once these are fixed.
_MAX_UNSENDABLE = 20


def parse_arguments(text: str) -> dict[str, Any]:
    """Parse `arguments_json`: empty means no arguments; anything but a JSON object is refused."""
    if not text.strip():
        return {}
    too_deep = InvalidArguments([("arguments_json", f"is nested more than {_MAX_DEPTH} levels deep")])
    try:
        # NaN, Infinity and -Infinity are Python's extensions, not JSON: kept as non-finite floats
        # here (as 1e999 is) and refused below with their path.
        value = json_loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArguments(
            [("arguments_json", f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")]
        ) from exc
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:  # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        raise InvalidArguments([("arguments_json", f"holds a number too long to read ({exc})")]) from exc
    if not isinstance(value, dict):
        raise InvalidArguments([("arguments_json", f"must be a JSON object, got {type(value).__name__}")])
    if _depth(value) > _MAX_DEPTH:
        # Validation, fingerprinting and encoding all recurse: refuse here rather than fail there.
        raise too_deep
    unsendable = _unsendable(value)
    if unsendable:
        # Schema validation accepts them (NaN is a number), but the request encoder refuses them.
        raise InvalidArguments(unsendable)
    return value


def _unsendable(value: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, why) for each value that cannot be sent upstream as JSON (UTF-8, finite numbers)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack and len(found) < _MAX_UNSENDABLE:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            found.append(
                (path, "must be a finite number (NaN, Infinity and overflowing numbers are not JSON)")
            )
        elif isinstance(item, str) and not _utf8(item):
            found.append((path, "is not valid Unicode (it holds a lone surrogate such as \\ud800)"))
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                where = f"{path}.{key}" if path else key
                if not _utf8(key):
                    found.append((_utf8_safe(where), "is a key that is not valid Unicode (a lone surrogate)"))
                    continue
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(item))))
    return sorted(found)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utf8_safe(text: str) -> str:
    """`text` with lone surrogates escaped, so it can travel in a gRPC status (UTF-8 only)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
