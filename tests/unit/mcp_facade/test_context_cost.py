"""The model-context cost of the full tool list for the committed catalog (the bench's estimate:
compact JSON of tools/list / 4 characters per token), held to issue 14's goal (bench/context.py
prints it per scope preset; `make bench` reports it in sections 5 and 5b)."""

from __future__ import annotations

from gumloop_mcp.scope import tool_list_tokens
from tests.unit.mcp_facade.test_toolbox import ALL, FakeProxy, make

# 134 tools: 21.7k tokens (162/tool) with the first compact form; 17.6k (132/tool) without titles,
# implied types and per-tool paging sentences; under 13.9k (104/tool) without plain string types,
# resource echoes ("Returns {agent}."), item field lists and descriptions restating the argument.
GOAL_TOTAL = 13_900  # the 58-tool list's cost before the catalog grew (issue 14)
GOAL_PER_TOOL = 104


async def test_the_full_list_meets_the_goal() -> None:
    """Every tool of the catalog is listed, with its inputSchema and description, within the
    13.9k tokens 58 tools cost before."""
    tools = await make(FakeProxy()).list_tools(ALL)
    total = tool_list_tokens(tools)
    print(f"tools/list: {len(tools)} tools, ~{total} tokens, {total / len(tools):.1f} tokens/tool")
    assert len(tools) >= 134
    assert all(t["description"] and t["inputSchema"]["type"] == "object" for t in tools)
    assert total <= GOAL_TOTAL and total / len(tools) <= GOAL_PER_TOOL
