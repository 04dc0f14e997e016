"""The published (tools/list) form of a tool: what it drops and what it must keep."""

from __future__ import annotations

from services.mcp_facade.tools.compact import published


def _tool(schema: dict[str, object], **extra: object) -> dict[str, object]:
    return {"name": "t", "title": "T", "description": "Does t.", "inputSchema": schema, **extra}


def test_plain_string_types_go_other_types_stay() -> None:
    """A value with no declared type is written as a string, so ``type: string`` says nothing below
    the root; integers, numbers, booleans, arrays without items, objects without properties and
    unions keep their type, and the root keeps ``type: object``."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "description": "Shown on the dashboard."},
            "when": {"type": "string", "format": "date-time"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array"},
            "count": {"type": "integer", "minimum": 1, "maximum": 9},
            "ratio": {"type": "number"},
            "on": {"type": "boolean"},
            "meta": {"type": "object"},
            "either": {"type": ["string", "object"]},
            "nested": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    out = published(_tool(schema))["inputSchema"]
    assert out["type"] == "object" and out["required"] == ["name"]
    props = out["properties"]
    assert props["name"] == {"description": "Shown on the dashboard."}
    assert props["when"] == {"format": "date-time"}
    assert props["kind"] == {"enum": ["a", "b"]}
    assert props["tags"] == {"items": {}}
    assert props["rows"] == {"type": "array"}
    assert props["count"] == {"type": "integer", "maximum": 9}
    assert props["ratio"] == {"type": "number"}
    assert props["on"] == {"type": "boolean"}
    assert props["meta"] == {"type": "object"}
    assert props["either"] == {"type": ["string", "object"]}
    assert props["nested"] == {"properties": {"x": {}}, "required": ["x"]}
    assert "additionalProperties" not in out


def test_descriptions_that_repeat_the_name_go_informative_ones_stay() -> None:
    """'The agent id.' on agent_id and 'Only this grade.' on a filter say nothing; a description
    with a fact the name lacks stays word for word."""
    schema = {
        "type": "object",
        "properties": {
            "agent_id": {"type": "string", "description": "The agent id."},
            "grade": {"type": "string", "enum": ["pass", "fail"], "description": "Only this grade."},
            "days": {"type": "integer", "description": "Window in days."},
            "run_id": {"type": "string", "description": "From gumloop_start_pipeline."},
        },
    }
    props = published(_tool(schema))["inputSchema"]["properties"]
    assert props["agent_id"] == {}
    assert props["grade"] == {"enum": ["pass", "fail"]}
    assert props["days"] == {"type": "integer", "description": "Window in days."}
    assert props["run_id"] == {"description": "From gumloop_start_pipeline."}


def test_hints_keep_only_what_differs_from_mcp_defaults() -> None:
    """Title and outputSchema go; annotations keep non-default hints only."""
    out = published(
        _tool(
            {"type": "object"},
            outputSchema={"type": "object"},
            annotations={"title": "T", "readOnlyHint": True, "destructiveHint": False, "openWorldHint": True},
        )
    )
    assert out == {
        "name": "t",
        "description": "Does t.",
        "inputSchema": {"type": "object", "properties": {}},
        "annotations": {"readOnlyHint": True},
    }
