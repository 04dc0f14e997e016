"""Parsing and validating an operation's JSON arguments against its input schema.

Every problem becomes one (field, expectation) violation, so a caller (often a model) can fix
all of them in one go: bad JSON, unknown arguments, missing required ones, wrong types.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .errors import InvalidArguments

__all__ = ["parse_arguments", "validate_arguments", "violations_of"]

_MAX_VIOLATIONS = 20
# Compiled validators by schema identity: an operation's input schema lives as long as the catalog,
# and compiling costs more than checking a call's few arguments. Each entry keeps its schema alive,
# so an id is never reused while cached; cleared whole when full (flow input schemas come per call).
_VALIDATORS: dict[int, tuple[Mapping[str, Any], Draft202012Validator]] = {}
_MAX_CACHED = 512
# Deeper than any Gumloop input; far below the interpreter's recursion limit.
_MAX_DEPTH = 64


def _validator_for(schema: Mapping[str, Any]) -> Draft202012Validator:
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    validator = Draft202012Validator(schema)
    if len(_VALIDATORS) >= _MAX_CACHED:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


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
    violations = violations_of(schema, arguments)
    if violations:
        raise InvalidArguments(violations)


def violations_of(schema: Mapping[str, Any], value: Any, *, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted field, expectation) pairs for each schema violation, at most 20, in a stable order."""
    validator = _validator_for(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    out: list[tuple[str, str]] = []
    for error in errors:
        out.extend(_describe(error, prefix))
        if len(out) >= _MAX_VIOLATIONS:
            break
    return out[:_MAX_VIOLATIONS]


def _join(prefix: str, parts: Iterable[Any]) -> str:
    path = prefix
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else str(part))
    return path


def _describe(error: ValidationError, prefix: str) -> list[tuple[str, str]]:
    here = _join(prefix, error.absolute_path)
    expected: Any = error.validator_value
    schema: Any = error.schema
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in expected if name not in error.instance]
        return [(_join(here, [name]), "is required") for name in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted((schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(known))
        known_text = f"expected one of: {', '.join(known)}" if known else "no arguments are accepted"
        return [(_join(here, [name]), f"is not a known argument; {known_text}") for name in extra]
    if error.validator == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return [(here or "arguments", f"must be of type {wanted}, got {_json_type(error.instance)}")]
    if error.validator == "enum":
        options = ", ".join(json.dumps(v) for v in expected)
        return [(here or "arguments", f"must be one of {options}")]
    return [(here or "arguments", error.message)]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
