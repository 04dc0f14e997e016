"""JSON Schema checks shared by the proxy and the façade: compiled once, violations a model can act on.

Both services validate arguments against the catalog's input schemas (the façade before any RPC,
the proxy again for callers that reach it directly). Every problem becomes one
(field, expectation) pair: unknown arguments name the known ones, missing required ones are each
listed, wrong types say what was expected and what came, so a caller can fix all of them at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Imported where first needed instead: jsonschema (with referencing and its format checkers) is
    # ~8 MiB resident, and more with optional format libraries installed; the token service never uses it.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["compiled_validator", "schema_violations"]

# Compiled validators by schema identity: an operation's input schema lives as long as the catalog,
# and compiling costs more than checking a call's few arguments. Each entry keeps its schema alive,
# so an id is never reused while cached; cleared whole when full (flow input schemas come per call).
_VALIDATORS: dict[int, tuple[Mapping[str, Any], Draft202012Validator]] = {}
_MAX_CACHED = 512
_MAX_VIOLATIONS = 20
# Longest violation message sent back (jsonschema quotes the offending value in most of them).
_MAX_MESSAGE_CHARS = 300


def compiled_validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A Draft 2020-12 validator for `schema`, compiled once per schema object."""
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_without_no_op_subschemas(schema))
    if len(_VALIDATORS) >= _MAX_CACHED:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


# Keywords that only annotate: a subschema made of these (or {} or true) accepts every value.
_ANNOTATIONS = frozenset(
    {"$comment", "default", "deprecated", "description", "examples", "readOnly", "title", "writeOnly"}
)
# Keywords whose value maps names to subschemas, whose value is one subschema, or a list of them.
_NAMED_SUBSCHEMAS = frozenset({"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"})
_ONE_SUBSCHEMA = frozenset(
    {"additionalProperties", "else", "if", "items", "not", "propertyNames", "then", "contains"}
)
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def _accepts_everything(schema: Any) -> bool:
    return schema is True or (isinstance(schema, dict) and _ANNOTATIONS.issuperset(schema))


def _has_reference(value: Any) -> bool:
    if isinstance(value, dict):
        return "$ref" in value or "$dynamicRef" in value or any(_has_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_reference(v) for v in value)
    return False


def _without_no_op_subschemas(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """`schema` less every `items` and `additionalProperties` subschema that accepts everything ({}, true,
    annotations only): the same verdicts and the same errors, but jsonschema no longer descends into each
    array element (an output schema's `"items": {}` made checking a 50-item page cost ~0.5 ms, ~12 us
    without). Unchanged when it has a `$ref` (a pointer could name a dropped part)."""
    if _has_reference(schema):
        return schema
    return _prune(schema)  # type: ignore[no-any-return]


def _prune(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
            out[key] = {name: _prune(sub) for name, sub in value.items()}
        elif key in _ONE_SUBSCHEMA:
            out[key] = _prune(value)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [_prune(sub) for sub in value]
        else:
            out[key] = value
    # Without `items` every element is accepted, as `items: {}` does, unless unevaluatedItems looks at
    # which elements `items` evaluated (likewise for properties).
    if "unevaluatedItems" not in out and _accepts_everything(out.get("items", False)):
        del out["items"]
    if "unevaluatedProperties" not in out and _accepts_everything(out.get("additionalProperties", False)):
        del out["additionalProperties"]
    return out


def schema_violations(
    schema: Mapping[str, Any], value: Any, *, prefix: str = "", limit: int = _MAX_VIOLATIONS
) -> list[tuple[str, str]]:
    """(dotted field, expectation) pairs for each way `value` breaks `schema`, at most `limit`.

    Fields are dotted paths (`a.b[0].c`) under `prefix`; the order is stable (by path).
    """
    errors = sorted(
        compiled_validator(schema).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]
    )
    # dict as an ordered set: jsonschema reports a `required` failure once per missing name, and each
    # names every missing one.
    out: dict[tuple[str, str], None] = {}
    for error in errors:
        out.update(dict.fromkeys(_describe(error, prefix)))
        if len(out) >= limit:
            break
    return list(out)[:limit]


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
    if error.validator in ("maxLength", "minLength") and isinstance(error.instance, str):
        bound = "at most" if error.validator == "maxLength" else "at least"
        return [
            (here or "arguments", f"must be {bound} {expected} characters long, got {len(error.instance)}")
        ]
    if error.validator == "pattern" and isinstance(error.instance, str):
        return [(here or "arguments", f"must match the pattern {expected}")]
    # jsonschema's own messages quote the value: a huge one must not travel back in the status.
    message = error.message
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 1] + "…"
    return [(here or "arguments", message)]


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
