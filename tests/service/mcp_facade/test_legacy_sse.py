"""The HTTP+SSE transport (2024-11-05) through the official SDK's sse_client."""

from __future__ import annotations

import aiohttp
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from .conftest import Stack


async def test_sse_client_round_trip(stack: Stack) -> None:
    """The SDK's SSE client gets the endpoint event, initializes, lists and calls tools."""
    async with (
        sse_client(f"{stack.url}/sse") as (read, write),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        assert init.server_info.name == "gumloop-mcp"
        tools = await session.list_tools()
        assert [t.name for t in tools.tools] == ["echo", "slow"]
        result = await session.call_tool("echo", {"text": "old"})
        assert result.structured_content == {"echo": "mcp_1:old"}
        with pytest.raises(MCPError) as raised:
            await session.call_tool("missing", {})
        assert raised.value.error.code == -32602


async def test_sse_client_pointed_at_the_bare_url_works(stack: Stack) -> None:
    """An HTTP+SSE client given /mcp/{token} itself (no /sse) gets the legacy stream too."""
    async with (
        sse_client(stack.url) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("echo", {"text": "bare"})
        assert result.structured_content == {"echo": "mcp_1:bare"}


async def test_messages_for_unknown_sse_session_are_404(stack: Stack) -> None:
    """A POST naming no open stream gets 404; the stream's first event names the POST URL."""
    async with aiohttp.ClientSession() as http:
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with http.post(f"{stack.url}/messages?session_id=nope", json=body) as resp:
            assert resp.status == 404
        async with http.get(f"{stack.url}/sse") as resp:
            assert resp.status == 200
            first = await resp.content.readuntil(b"\n\n")
            assert first.startswith(b"event: endpoint\ndata: /mcp/")
            assert b"/messages?session_id=" in first
