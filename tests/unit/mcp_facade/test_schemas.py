"""Tool schemas: $ref inlining, façade paging and waiting arguments, list output shape."""

from __future__ import annotations

import json

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.mcp_facade.tools.schemas import inline_refs, input_schema, list_output_schema, output_schema


def test_refs_are_inlined_and_defs_dropped() -> None:
    """Local $refs are replaced by their targets, siblings kept."""
    schema = {
        "type": "object",
        "$defs": {"Name": {"type": "string", "minLength": 1}},
        "properties": {"name": {"$ref": "#/$defs/Name", "description": "Who."}},
    }
    out = inline_refs(schema)
    assert out["properties"]["name"] == {"type": "string", "minLength": 1, "description": "Who."}
    assert "$defs" not in out


def test_recursive_refs_end_in_a_finite_schema() -> None:
    """A self-referencing schema is cut instead of looping."""
    schema = {
        "type": "object",
        "definitions": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/definitions/Node"}}}},
        "properties": {"root": {"$ref": "#/definitions/Node"}},
    }
    text = json.dumps(inline_refs(schema))
    assert "$ref" not in text and "child" in text


def test_list_tools_take_limit_and_cursor_instead_of_upstream_paging() -> None:
    """page_size/cursor of the upstream give way to limit (bounded) and cursor."""
    operation = pb.Operation(
        name="list_agents",
        kind=pb.OPERATION_KIND_LIST,
        input_schema_json=json.dumps(
            {
                "type": "object",
                "properties": {"page_size": {"type": "integer"}, "cursor": {"type": "string"}, "search": {}},
                "required": ["page_size"],
            }
        ),
        pagination=pb.Pagination(
            style=pb.PAGINATION_STYLE_CURSOR,
            limit_parameter="page_size",
            cursor_parameter="cursor",
            max_page_size=50,
        ),
    )
    schema = input_schema(operation, kind="list", waits=False, max_wait_seconds=120)
    assert set(schema["properties"]) == {"limit", "cursor", "search"}
    assert schema["properties"]["limit"]["maximum"] == 50
    assert "required" not in schema
    assert all(p.get("description") for p in schema["properties"].values())


def test_status_tools_take_a_bounded_wait() -> None:
    """wait_seconds is 0..max_wait_seconds with default 0."""
    operation = pb.Operation(name="get_session", kind=pb.OPERATION_KIND_GET)
    wait = input_schema(operation, kind="get", waits=True, max_wait_seconds=90)["properties"]["wait_seconds"]
    assert (wait["minimum"], wait["maximum"], wait["default"]) == (0, 90, 0)


def test_list_output_schema_uses_the_upstream_item_shape() -> None:
    """{items, next_cursor} with items typed from the upstream items field."""
    operation = pb.Operation(
        output_schema_json=json.dumps(
            {
                "type": "object",
                "properties": {"agents": {"type": "array", "items": {"type": "object", "title": "A"}}},
            }
        ),
        pagination=pb.Pagination(items_field="agents"),
    )
    schema = list_output_schema(operation)
    assert schema["properties"]["items"]["items"] == {"type": ["object", "null"], "title": "A"}
    assert schema["required"] == ["items", "next_cursor"]


def test_output_schemas_are_loosened_so_real_answers_validate() -> None:
    """required, additionalProperties false and value constraints go; types admit null."""
    operation = pb.Operation(
        output_schema_json=json.dumps(
            {
                "type": "object",
                "required": ["state"],
                "additionalProperties": False,
                "properties": {
                    "state": {"type": "string", "enum": ["A"]},
                    "log": {"type": "array", "minItems": 1},
                },
            }
        )
    )
    schema = output_schema(operation)
    assert schema is not None
    assert schema["type"] == "object" and "required" not in schema and "additionalProperties" not in schema
    assert schema["properties"]["state"] == {"type": ["string", "null"]}
    assert schema["properties"]["log"] == {"type": ["array", "null"]}
