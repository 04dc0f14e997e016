"""Bounded results and the paging adapters behind list tools."""

from __future__ import annotations

import json

import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.mcp_facade.tools.pagination import encode_cursor, page_request, page_result
from services.mcp_facade.tools.results import TRUNCATION_MARKER, conform, json_result, shrink, text_result
from services.mcp_facade.tools.tool_errors import ToolFailure


def test_small_values_pass_through_untouched() -> None:
    """Under the limit nothing is cut and text equals structuredContent."""
    result = json_result({"a": [1, 2]}, max_result_chars=100_000, structured=True)
    assert result["structuredContent"] == {"a": [1, 2]}
    assert json.loads(result["content"][0]["text"]) == {"a": [1, 2]}
    assert len(result["content"]) == 1


def test_big_bodies_are_cut_with_a_marker_and_stay_under_the_cap() -> None:
    """Long strings and arrays are shortened, the shape kept, and the model told."""
    body = {"log": ["line " * 200] * 500, "state": "FAILED"}
    result = json_result(body, max_result_chars=20_000, structured=True)
    assert len(json.dumps(result)) < 20_000
    assert result["structuredContent"]["state"] == "FAILED"
    assert isinstance(result["structuredContent"]["log"], list)
    assert TRUNCATION_MARKER in result["content"][0]["text"]
    assert "cut to fit" in result["content"][1]["text"]


def test_shrink_reports_whether_it_cut() -> None:
    """shrink returns the value and a flag."""
    assert shrink({"a": 1}, 100) == ({"a": 1}, False)
    cut, was_cut = shrink({"a": "x" * 1000}, 200)
    assert was_cut and len(json.dumps(cut)) <= 200


def test_text_results_are_truncated_with_a_hint() -> None:
    """Plain text over the cap ends in a marker and the hint."""
    result = text_result("y" * 50_000, max_result_chars=10_000, hint="Use offset to read on.")
    text = result["content"][0]["text"]
    assert len(text) < 10_000 and text.endswith("Use offset to read on.")


def test_a_foreign_cursor_is_a_tool_failure_naming_cursor() -> None:
    """Garbage cursors are refused clearly."""
    with pytest.raises(ToolFailure) as failure:
        page_request(pb.Operation(), {"cursor": "not-a-cursor!"})
    assert failure.value.fields[0][0] == "cursor"


def test_local_paging_walks_the_array_and_ends_with_null() -> None:
    """NONE: offset in the cursor, null at the end."""
    operation = pb.Operation(pagination=pb.Pagination(style=pb.PAGINATION_STYLE_NONE, items_field="xs"))
    body = {"xs": list(range(5))}
    first = page_request(operation, {"limit": 3})
    page, shrunk = page_result(operation, first, body, 100_000)
    assert page["items"] == [0, 1, 2] and not shrunk
    second = page_request(operation, {"limit": 3, "cursor": page["next_cursor"]})
    page2, _ = page_result(operation, second, body, 100_000)
    assert page2 == {"items": [3, 4], "next_cursor": None}


def test_cursor_paging_resumes_inside_a_shrunk_upstream_page() -> None:
    """A page shrunk for size continues at the same upstream cursor with an offset."""
    operation = pb.Operation(
        pagination=pb.Pagination(
            style=pb.PAGINATION_STYLE_CURSOR,
            items_field="xs",
            limit_parameter="page_size",
            cursor_parameter="cursor",
            next_cursor_field="next_cursor",
            max_page_size=100,
        )
    )
    request = page_request(operation, {"limit": 10, "cursor": encode_cursor("up_1", 4)})
    assert request.upstream_arguments == {"cursor": "up_1", "page_size": 14}
    body = {"xs": list(range(14)), "next_cursor": "up_2"}
    page, _ = page_result(operation, request, body, 100_000)
    assert page["items"] == list(range(4, 14))
    follow = page_request(operation, {"cursor": page["next_cursor"]})
    assert follow.upstream_arguments["cursor"] == "up_2" and follow.offset == 0


def test_structured_content_is_made_to_fit_the_output_schema() -> None:
    """Members that break the declared outputSchema are dropped from structuredContent only."""
    schema = {
        "type": "object",
        "properties": {"state": {"type": ["string", "null"]}, "n": {"type": "integer"}},
    }
    result = json_result(
        {"state": 5, "n": 1, "extra": "x"}, max_result_chars=100_000, structured=True, schema=schema
    )
    assert result["structuredContent"] == {"n": 1, "extra": "x"}
    assert json.loads(result["content"][0]["text"])["state"] == 5
    assert conform([1], {"type": "object"}) == {}
