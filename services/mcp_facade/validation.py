"""Argument validation against a tool's input schema, before any RPC: failures name the field."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from .tool_errors import ToolFailure

__all__ = ["validate", "validator_for"]

# Compiled validators by schema identity. Tool schemas live as long as the catalog that built them,
# and compiling one costs more than checking a small argument object against it; each entry keeps
# its schema alive, so an id is never reused while cached. Cleared whole when full (flow input
# schemas are fetched per call and would otherwise pile up).
_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}
_MAX_CACHED = 512


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """A Draft 2020-12 validator for `schema`, compiled once per schema object."""
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    validator = Draft202012Validator(schema)
    if len(_VALIDATORS) >= _MAX_CACHED:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def _path(error: Any) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.message, str) and error.message.startswith("'"):
        parts.append(error.message.split("'")[1])
    elif error.validator == "additionalProperties":
        extra = [p for p in (error.instance or {}) if p not in (error.schema.get("properties") or {})]
        parts.extend(extra[:1])
    return ".".join(parts) or "arguments"


def validate(schema: dict[str, Any], arguments: Any, *, prefix: str = "") -> None:
    """Raise ToolFailure naming every bad field of `arguments` under `schema`."""
    errors = sorted(validator_for(schema).iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    fields = [(f"{prefix}{_path(e)}", e.message) for e in errors[:10]]
    listed = "; ".join(f"{f}: {m}" for f, m in fields)
    raise ToolFailure(f"Invalid arguments: {listed}. Fix these arguments and call again.", fields=fields)
