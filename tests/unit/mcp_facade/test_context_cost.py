"""The model-context cost of the full tool list for the committed catalog (the bench's estimate:
compact JSON of tools/list / 4 characters per token), held under a bound (bench/context.py prints it
per scope preset)."""

from __future__ import annotations

import pytest

from gumloop_mcp.scope import tool_list_tokens
from tests.unit.mcp_facade.test_toolbox import ALL, FakeProxy, make

# 134 tools: 21.7k tokens (162/tool) with the first compact form; 17.6k (132/tool) without titles,
# implied types and per-tool paging sentences, and with tightened catalog descriptions.
ACHIEVED_TOTAL = 17_700
ACHIEVED_PER_TOOL = 132.1
GOAL_TOTAL = 13_900  # the 58-tool list's cost before the catalog grew (issue 14)


async def _cost() -> tuple[int, int]:
    tools = await make(FakeProxy()).list_tools(ALL)
    total = tool_list_tokens(tools)
    print(f"tools/list: {len(tools)} tools, ~{total} tokens, {total / len(tools):.1f} tokens/tool")
    return len(tools), total


async def test_the_full_list_stays_under_the_achieved_bound() -> None:
    """Every published tool keeps its inputSchema and description; the total stays bounded."""
    count, total = await _cost()
    assert count >= 134
    assert total <= ACHIEVED_TOTAL and total / count <= ACHIEVED_PER_TOOL


@pytest.mark.xfail(reason=f"the goal is {GOAL_TOTAL} tokens in all; the list is ~17.6k", strict=False)
async def test_the_full_list_meets_the_goal() -> None:
    """The whole catalog within the 13.9k tokens 58 tools cost before."""
    _, total = await _cost()
    assert total <= GOAL_TOTAL
