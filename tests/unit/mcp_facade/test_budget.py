"""Token-bucket call budget."""

from __future__ import annotations

from services.mcp_facade.protocol.over_budget import budget_exceeded_result
from services.mcp_facade.state.budget import CallBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_allows_per_minute_then_says_when_to_retry() -> None:
    """60/min: 60 calls pass at once, the 61st waits about a second, and time refills it."""
    clock = Clock()
    budget = CallBudget(60, clock=clock)
    assert all(budget.take("s") == 0 for _ in range(60))
    wait = budget.take("s")
    assert 0.9 < wait <= 1.0
    assert budget.take("other") == 0
    clock.now = 1.0
    assert budget.take("s") == 0


def test_zero_budget_disables_the_limit() -> None:
    """calls_per_minute 0 means unlimited."""
    budget = CallBudget(0)
    assert all(budget.take("s") == 0 for _ in range(1000))


def test_exceeded_result_is_a_tool_error_with_retry_seconds() -> None:
    """The result is isError with text and structured retry_after_seconds rounded up."""
    result = budget_exceeded_result(2.2, 10)
    assert result["isError"] is True
    assert result["structuredContent"] == {"error": "call_budget_exceeded", "retry_after_seconds": 3}
    assert "Retry in 3 seconds" in result["content"][0]["text"]
