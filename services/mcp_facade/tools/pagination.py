"""`limit`/`cursor` paging for every list tool, whatever the upstream paging style.

The façade cursor is opaque: base64url JSON ``{"u": upstream position, "o": offset}``, where the
upstream position is the upstream cursor (CURSOR), the page number (PAGE_NUMBER) or absent (NONE,
where the façade pages over the returned array itself), and the offset skips items of that upstream
page already returned (a page shrunk to fit the size cap continues where it stopped).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from .results import budget, dumps
from .schemas import DEFAULT_LIST_LIMIT, list_page_size
from .tool_errors import ToolFailure

__all__ = ["PageRequest", "encode_cursor", "page_request", "page_result"]


def encode_cursor(position: Any, offset: int) -> str:
    """An opaque façade cursor."""
    raw = dumps({"u": position, "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        offset = value["o"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return value.get("u"), offset
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolFailure(
            "cursor: not a cursor this tool returned; pass next_cursor from the previous call exactly, "
            "or omit cursor to start from the first page.",
            fields=[("cursor", "invalid cursor")],
        ) from exc


@dataclass(frozen=True)
class PageRequest:
    """What to ask upstream for, and which slice of its answer to return."""

    upstream_arguments: dict[str, Any]
    position: Any
    offset: int
    limit: int


def page_request(operation: pb.Operation, arguments: dict[str, Any]) -> PageRequest:
    """Upstream arguments for one page of a list tool call."""
    page = operation.pagination
    args = {k: v for k, v in arguments.items() if k not in ("limit", "cursor")}
    limit = int(arguments.get("limit") or min(DEFAULT_LIST_LIMIT, list_page_size(operation)))
    position: Any = None
    offset = 0
    cursor = arguments.get("cursor")
    if isinstance(cursor, str) and cursor:
        position, offset = _decode_cursor(cursor)
    if page.style == pb.PAGINATION_STYLE_CURSOR:
        if position is not None and page.cursor_parameter:
            args[page.cursor_parameter] = str(position)
        if page.limit_parameter:
            args[page.limit_parameter] = min(limit + offset, list_page_size(operation))
    elif page.style == pb.PAGINATION_STYLE_PAGE_NUMBER:
        number = position if isinstance(position, int) and position >= 1 else 1
        position = number
        if page.cursor_parameter:
            args[page.cursor_parameter] = number
        if page.limit_parameter:
            args[page.limit_parameter] = list_page_size(operation)
    return PageRequest(args, position, offset, limit)


def _items(operation: pb.Operation, body: Any) -> list[Any]:
    field = operation.pagination.items_field
    if field and isinstance(body, dict):
        value = body.get(field)
        return list(value) if isinstance(value, list) else []
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        # A map of key -> list (e.g. saved_item_id -> recent runs): one item per entry, key kept.
        lists = {k: v for k, v in body.items() if isinstance(v, list)}
        if lists:
            return [
                {"group": key, **value} if isinstance(value, dict) else {"group": key, "value": value}
                for key, values in lists.items()
                for value in values
            ]
    return []


def _upstream_next(operation: pb.Operation, body: Any, position: Any) -> Any:
    page = operation.pagination
    if not isinstance(body, dict):
        return None
    if page.style == pb.PAGINATION_STYLE_CURSOR:
        nxt = body.get(page.next_cursor_field or "next_cursor")
        return nxt if isinstance(nxt, str) and nxt else None
    if page.style == pb.PAGINATION_STYLE_PAGE_NUMBER:
        total = body.get(page.next_cursor_field or "total_pages")
        if isinstance(total, int) and isinstance(position, int) and position < total:
            return position + 1
    return None


def page_result(
    operation: pb.Operation, request: PageRequest, body: Any, max_result_chars: int
) -> tuple[dict[str, Any], bool]:
    """``{items, next_cursor}`` for one page, shrunk to fit; (page, shrunk_for_size)."""
    items = _items(operation, body)
    window = items[request.offset : request.offset + request.limit]
    limit = budget(max_result_chars) - 200
    shrunk = False
    while len(window) > 1 and len(dumps(window)) > limit:
        window = window[: max(1, len(window) // 2)]
        shrunk = True
    end = request.offset + len(window)
    if end < len(items):
        next_cursor: str | None = encode_cursor(request.position, end)
    else:
        upstream = _upstream_next(operation, body, request.position)
        next_cursor = encode_cursor(upstream, 0) if upstream is not None else None
    return {"items": window, "next_cursor": next_cursor}, shrunk
