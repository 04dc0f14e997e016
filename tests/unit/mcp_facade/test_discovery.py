"""Discovery search over tool definitions."""

from __future__ import annotations

from services.mcp_facade.tools.discovery import META_TOOLS, search

TOOLS = [
    {"name": "list_all_gumloop_skills", "title": "List skills", "description": "Lists skills. More text."},
    {"name": "get_single_gumloop_run_by_id", "title": "Get a run", "description": "Reads one flow run."},
    {"name": "gumloop_start_pipeline", "title": "Start a flow", "description": "Starts a saved flow run."},
]


def test_matches_rank_name_words_first_and_trim_descriptions() -> None:
    """Name hits outrank description hits; descriptions are one sentence."""
    found = search(TOOLS, "run", 10)
    assert [f["name"] for f in found] == ["get_single_gumloop_run_by_id", "gumloop_start_pipeline"]
    assert search(TOOLS, "skills", 10) == [
        {"name": "list_all_gumloop_skills", "description": "Lists skills."}
    ]


def test_an_empty_query_lists_everything_up_to_the_limit() -> None:
    """No words: every tool in order, bounded by limit."""
    assert [f["name"] for f in search(TOOLS, "", 2)] == [
        "list_all_gumloop_skills",
        "get_single_gumloop_run_by_id",
    ]


def test_meta_tools_have_object_schemas_and_annotations() -> None:
    """The three meta tools are complete tool definitions."""
    assert [t["name"] for t in META_TOOLS] == ["search_tools", "get_tool_schema", "call_tool"]
    assert all(
        t["inputSchema"]["type"] == "object" and "readOnlyHint" in t["annotations"] for t in META_TOOLS
    )
