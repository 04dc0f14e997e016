"""Argument validation against a tool's input schema, before any RPC: failures name the field."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from .tool_errors import ToolFailure

__all__ = ["validate"]


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
    errors = sorted(Draft202012Validator(schema).iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    fields = [(f"{prefix}{_path(e)}", e.message) for e in errors[:10]]
    listed = "; ".join(f"{f}: {m}" for f, m in fields)
    raise ToolFailure(f"Invalid arguments: {listed}. Fix these arguments and call again.", fields=fields)
