"""The model-context cost of the full tool list for the committed catalog (the bench's estimate:
compact JSON of tools/list / 4 characters per token), per tool, held under a bound."""

from __future__ import annotations

import pytest

from gumloop_mcp.scope import tool_list_tokens
from tests.unit.mcp_facade.test_toolbox import ALL, FakeProxy, make

# Before the compact published form: ~265 tokens per tool (15.6k for 59 tools).
ACHIEVED_BOUND = 165
GOAL = 95  # ~145 tools within today's 13.9k


async def _per_tool() -> tuple[int, int, float]:
    tools = await make(FakeProxy()).list_tools(ALL)
    total = tool_list_tokens(tools)
    per_tool = total / len(tools)
    print(f"tools/list: {len(tools)} tools, ~{total} tokens, {per_tool:.1f} tokens/tool")
    return len(tools), total, per_tool


async def test_the_full_list_stays_under_the_achieved_bound() -> None:
    """Every published tool keeps its inputSchema and description; the average stays bounded."""
    count, _, per_tool = await _per_tool()
    assert count >= 59
    assert per_tool <= ACHIEVED_BOUND


@pytest.mark.xfail(reason=f"the goal is {GOAL} tokens/tool; the compact form reaches ~162", strict=False)
async def test_the_full_list_meets_the_goal() -> None:
    """~145 tools within the 13.9k tokens 58 tools cost before."""
    _, _, per_tool = await _per_tool()
    assert per_tool <= GOAL
