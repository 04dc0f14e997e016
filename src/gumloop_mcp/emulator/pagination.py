"""Opaque cursor pagination (``page_size`` + ``cursor`` -> ``next_cursor``) as Gumloop's list endpoints do."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import TypeVar

from gumloop_mcp.emulator.errors import bad_request

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def encode_cursor(offset: int) -> str:
    """An opaque base64 JSON cursor."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The offset inside a cursor; 400 when it is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        offset = data["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise bad_request("cursor is invalid", param="cursor") from exc
    if not isinstance(offset, int) or offset < 0:
        raise bad_request("cursor is invalid", param="cursor")
    return offset


def page_size(query: Mapping[str, str], default: int = DEFAULT_PAGE_SIZE) -> int:
    """The requested page size (1-100); 400 when not an integer in range."""
    raw = query.get("page_size")
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except ValueError as exc:
        raise bad_request("page_size must be an integer", param="page_size") from exc
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(f"page_size must be between 1 and {MAX_PAGE_SIZE}", param="page_size")
    return size


def paginate(items: Sequence[T], query: Mapping[str, str]) -> tuple[list[T], str | None]:
    """One page of ``items`` and the cursor of the next page (None at the end)."""
    size = page_size(query)
    cursor = query.get("cursor")
    offset = decode_cursor(cursor) if cursor else 0
    page = list(items[offset : offset + size])
    nxt = encode_cursor(offset + size) if offset + size < len(items) else None
    return page, nxt
