"""Tool results bounded for Claude: text always present, structuredContent where known, under a cap.

The cap (`max_result_chars`) applies to the whole result; the JSON text and structuredContent each
get about half of it. Lists shrink their page (the caller gets a next_cursor for the rest); other
bodies have their longest strings and arrays cut, with a marker that says so, keeping the shape.
"""

from __future__ import annotations

from typing import Any, Final

from gumloop_mcp.runtime import compiled_validator, json_dumps

__all__ = ["TRUNCATION_MARKER", "budget", "conform", "dumps", "json_result", "shrink", "text_result"]

TRUNCATION_MARKER: Final = "…[truncated]"
_OVERHEAD: Final = 512


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept."""
    return json_dumps(value, default=str)


def budget(max_result_chars: int) -> int:
    """Characters available to each of the text block and structuredContent."""
    return max(1_000, max_result_chars // 2 - _OVERHEAD)


def shrink(value: Any, limit: int) -> tuple[Any, bool]:
    """`value` with long strings and arrays cut until its JSON fits `limit`; (value, was_cut)."""
    if len(dumps(value)) <= limit:
        return value, False
    max_str, max_items = max(64, limit // 4), 200
    while True:
        cut = _cut(value, max_str, max_items)
        if len(dumps(cut)) <= limit or (max_str <= 16 and max_items <= 1):
            if len(dumps(cut)) > limit:
                return {"truncated": dumps(cut)[: max(0, limit - 40)] + TRUNCATION_MARKER}, True
            return cut, True
        max_str, max_items = max(16, max_str // 2), max(1, max_items // 2)


def _cut(value: Any, max_str: int, max_items: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= max_str else value[:max_str] + TRUNCATION_MARKER
    if isinstance(value, list):
        items = [_cut(v, max_str, max_items) for v in value[:max_items]]
        return items
    if isinstance(value, dict):
        return {k: _cut(v, max_str, max_items) for k, v in value.items()}
    return value


_DROP: Final = object()


def conform(value: Any, schema: dict[str, Any] | None) -> Any:
    """`value` reduced until it validates against `schema` (members that do not fit are dropped).

    Clients reject structuredContent that breaks the declared outputSchema, so an upstream answer
    that drifted from its documented shape loses the offending members there (the text block still
    carries everything). Returns {} when nothing fits.
    """
    if schema is None:
        return value
    kept = _conform(value, schema)
    return {} if kept is _DROP else kept


def _conform(value: Any, schema: Any) -> Any:
    if not isinstance(schema, dict) or not list(compiled_validator(schema).iter_errors(value)):
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        out = {}
        for key, member in value.items():
            kept = _conform(member, props[key]) if key in props else member
            if kept is not _DROP:
                out[key] = kept
        if not list(compiled_validator(schema).iter_errors(out)):
            return out
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = [i for i in (_conform(v, schema["items"]) for v in value) if i is not _DROP]
        if not list(compiled_validator(schema).iter_errors(items)):
            return items
    return _DROP


def text_result(text: str, *, max_result_chars: int, hint: str = "") -> dict[str, Any]:
    """A plain text result, truncated with a marker (and `hint` on how to get more) when too long."""
    limit = max_result_chars - _OVERHEAD
    if len(text) > limit:
        tail = f"\n{TRUNCATION_MARKER} {hint}".rstrip()
        text = text[: max(0, limit - len(tail))] + tail
    return {"content": [{"type": "text", "text": text}]}


def json_result(
    value: Any,
    *,
    max_result_chars: int,
    structured: bool,
    note: str = "",
    hint: str = "Ask for less (e.g. a narrower filter) to see the rest.",
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A result carrying `value` as compact JSON text and, when `structured`, as structuredContent.

    `note` is a sentence for the model, sent as a second text block (waiting advice, paging hints).
    `schema` is the tool's outputSchema: structuredContent is made to conform to it.
    """
    limit = budget(max_result_chars) - len(note)
    bounded, was_cut = shrink(value, limit)
    content = [{"type": "text", "text": dumps(bounded)}]
    notes = [note] if note else []
    if was_cut:
        notes.append(
            f"The result was cut to fit the size limit (cut parts end with {TRUNCATION_MARKER}). {hint}"
        )
    if notes:
        content.append({"type": "text", "text": " ".join(notes)})
    result: dict[str, Any] = {"content": content}
    if structured and isinstance(bounded, dict):
        result["structuredContent"] = conform(bounded, schema)
    elif schema is not None:
        result["structuredContent"] = conform({}, schema)
    return result
