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


def test_the_usual_list_bound_is_stated_once_other_bounds_stay() -> None:
    """A list tool's limit of at most LIST_LIMIT_MAX goes unpublished (the server instructions state
    it); another maximum, or a `limit` of a tool that is not a list, keeps its bound. The façade
    still refuses a limit above the bound: the full definition keeps it."""
    from services.mcp_facade.contracts import LIST_LIMIT_MAX
    from services.mcp_facade.protocol.protocol import INSTRUCTIONS

    def schema(bound: int) -> dict[str, object]:
        return {
            "type": "object",
            "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": bound}},
        }

    usual = _tool(schema(LIST_LIMIT_MAX))
    assert published(usual, paged=True)["inputSchema"]["properties"]["limit"] == {"type": "integer"}
    assert usual["inputSchema"]["properties"]["limit"]["maximum"] == LIST_LIMIT_MAX  # type: ignore[index]
    assert published(_tool(schema(1000)), paged=True)["inputSchema"]["properties"]["limit"]["maximum"] == 1000
    assert published(usual)["inputSchema"]["properties"]["limit"]["maximum"] == LIST_LIMIT_MAX
    assert f"`limit` (1-{LIST_LIMIT_MAX} unless the tool gives another maximum)" in INSTRUCTIONS


async def test_a_limit_above_the_unpublished_bound_is_refused_with_the_bound() -> None:
    """The bound left out of tools/list is still enforced, and the refusal names it."""
    from tests.unit.mcp_facade.test_toolbox import ALL, FakeProxy, ctx, make

    proxy = FakeProxy()
    box = make(proxy)
    listed = await box.tool_for(ALL, "list_all_gumloop_agents")
    assert listed is not None and "maximum" not in listed["inputSchema"]["properties"]["limit"]
    result = await box.call_tool(ALL, "list_all_gumloop_agents", {"limit": 101}, ctx())
    assert result["isError"] is True
    violation = result["structuredContent"]["field_violations"][0]
    assert violation["field"] == "limit" and "100" in violation["description"]
    assert not proxy.invoked("list_agents")
