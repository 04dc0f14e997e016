"""Opaque cursor pagination."""

import pytest

from gumloop_mcp.emulator.errors import ApiError
from gumloop_mcp.emulator.pagination import paginate


def test_cursors_walk_every_item_exactly_once() -> None:
    """Following next_cursor visits all items in order and ends with None."""
    items = list(range(7))
    seen: list[int] = []
    query = {"page_size": "3"}
    while True:
        page, nxt = paginate(items, query)
        seen += page
        if nxt is None:
            break
        query = {"page_size": "3", "cursor": nxt}
    assert seen == items


def test_bad_page_size_and_cursor_are_400() -> None:
    """Out-of-range page sizes and foreign cursors are client errors."""
    for query in ({"page_size": "0"}, {"page_size": "101"}, {"page_size": "x"}, {"cursor": "not-a-cursor"}):
        with pytest.raises(ApiError) as err:
            paginate([1, 2], query)
        assert err.value.status == 400
