"""Argument validation against a tool's input schema, before any RPC: failures name the field."""

from __future__ import annotations

from typing import Any

from gumloop_mcp.runtime import schema_violations

from .tool_errors import ToolFailure

__all__ = ["validate"]

_MAX_LISTED = 10


def validate(schema: dict[str, Any], arguments: Any, *, prefix: str = "") -> None:
    """Raise ToolFailure naming every bad field of `arguments` under `schema` (fields under `prefix`)."""
    fields = schema_violations(schema, arguments, prefix=prefix, limit=_MAX_LISTED)
    if not fields:
        return
    listed = "; ".join(f"{f}: {m}" for f, m in fields)
    raise ToolFailure(f"Invalid arguments: {listed}. Fix these arguments and call again.", fields=fields)
