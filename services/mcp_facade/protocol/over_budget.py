"""What a request over the per-server call budget (state/budget.py) is answered."""

from __future__ import annotations

import math
from typing import Any

from .jsonrpc import RATE_LIMITED, JsonRpcError

__all__ = ["budget_exceeded_error", "budget_exceeded_result"]


def _budget_text(retry_after_s: float, per_minute: int) -> tuple[str, int]:
    seconds = max(1, math.ceil(retry_after_s))
    text = (
        f"Call budget exceeded: this MCP server allows {per_minute} calls per minute "
        f"(tools/call, tools/list and each request of a batch). Retry in {seconds} seconds."
    )
    return text, seconds


def budget_exceeded_error(retry_after_s: float, per_minute: int) -> JsonRpcError:
    """The JSON-RPC error for a request other than tools/call over budget."""
    text, seconds = _budget_text(retry_after_s, per_minute)
    return JsonRpcError(RATE_LIMITED, text, {"retry_after_seconds": seconds})


def budget_exceeded_result(retry_after_s: float, per_minute: int) -> dict[str, Any]:
    """The tool result for a call over budget: an error the model can act on."""
    text, seconds = _budget_text(retry_after_s, per_minute)
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"error": "call_budget_exceeded", "retry_after_seconds": seconds},
        "isError": True,
    }
