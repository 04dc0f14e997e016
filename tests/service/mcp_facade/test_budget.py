"""The per-server call budget answers with a tool error saying when to retry."""

from __future__ import annotations

import aiohttp

from .conftest import Stack

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = {
    "Accept": "application/json",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "echo",
}


async def test_calls_over_budget_get_an_error_result_with_retry_after(stack: Stack) -> None:
    """With 2 calls per minute the third call is an isError result with structured retry info."""
    server = await stack.make(calls_per_minute=2)
    url = f"http://127.0.0.1:{server.public_port}/mcp/{stack.token}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "x"}, "_meta": META},
    }
    results = []
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(url, json=body, headers=HEADERS) as resp:
                assert resp.status == 200
                results.append((await resp.json())["result"])
    assert [r.get("isError", False) for r in results] == [False, False, True]
    over = results[2]
    assert over["structuredContent"]["error"] == "call_budget_exceeded"
    assert 1 <= over["structuredContent"]["retry_after_seconds"] <= 30
    assert "Retry in" in over["content"][0]["text"]
    assert len(stack.toolbox.calls) == 2
