"""Signed, self-contained sessions: no sticky routing, tamper-proof, DELETE, GET stream."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from mcp.shared.exceptions import MCPDeprecationWarning

from .conftest import Stack, sdk_session

HEADERS = {"Accept": "application/json, text/event-stream"}


async def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=body, headers={**HEADERS, **(headers or {})}) as resp,
    ):
        parsed = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, parsed, resp.headers


async def _initialize(url: str) -> str:
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}
    status, _, headers = await _post(url, body)
    assert status == 200
    session_id: str = headers["Mcp-Session-Id"]
    return session_id


def _tools_list(msg_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "tools/list"}


async def test_session_id_is_served_by_a_second_replica_with_the_same_secret(stack: Stack) -> None:
    """A session opened on one instance works on another sharing session_secret (no sticky routing)."""
    session_id = await _initialize(stack.url)
    assert all(0x21 <= ord(c) <= 0x7E for c in session_id)
    replica = await stack.make()
    other_url = f"http://127.0.0.1:{replica.public_port}/mcp/{stack.token}"
    status, reply, _ = await _post(other_url, _tools_list(), {"Mcp-Session-Id": session_id})
    assert status == 200
    assert len(reply["result"]["tools"]) == 2


async def test_replica_with_another_secret_rejects_the_session(stack: Stack) -> None:
    """A replica with a different secret answers 404 (unknown session) rather than trusting it."""
    session_id = await _initialize(stack.url)
    stranger = await stack.make(session_secret="another-secret")
    url = f"http://127.0.0.1:{stranger.public_port}/mcp/{stack.token}"
    status, reply, _ = await _post(url, _tools_list(), {"Mcp-Session-Id": session_id})
    assert status == 404
    assert reply["error"]["code"] == -32600


async def test_tampered_session_id_is_404(stack: Stack) -> None:
    """Changing any character of the claims or signature makes the session unknown (404)."""
    session_id = await _initialize(stack.url)
    prefix, payload, signature = session_id.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for forged in (f"{prefix}.{flipped}.{signature}", f"{prefix}.{payload}.{signature[:-1]}x", "garbage"):
        status, _, _ = await _post(stack.url, _tools_list(), {"Mcp-Session-Id": forged})
        assert status == 404


async def test_session_of_another_server_is_404(stack: Stack) -> None:
    """A session issued for one MCP server is not accepted on another server's URL."""
    session_id = await _initialize(stack.url)
    other_token = stack.tokens.add_server("mcp_2")
    status, _, _ = await _post(
        f"{stack.base}/mcp/{other_token}", _tools_list(), {"Mcp-Session-Id": session_id}
    )
    assert status == 404


async def test_delete_ends_the_session(stack: Stack) -> None:
    """DELETE answers 200, after which the session id gets 404; without an id DELETE is 400."""
    session_id = await _initialize(stack.url)
    async with aiohttp.ClientSession() as http:
        async with http.delete(stack.url, headers={"Mcp-Session-Id": session_id}) as resp:
            assert resp.status == 200
        async with http.delete(stack.url) as resp:
            assert resp.status == 400
    status, _, _ = await _post(stack.url, _tools_list(), {"Mcp-Session-Id": session_id})
    assert status == 404


async def test_get_opens_a_server_to_client_stream_for_a_session(stack: Stack) -> None:
    """GET with a session id opens an SSE stream (closed on shutdown); without one, a legacy stream."""
    session_id = await _initialize(stack.url)
    sse = {"Accept": "text/event-stream"}
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.url, headers=sse) as resp:
            assert resp.status == 200
            assert (await resp.content.readuntil(b"\n\n")).startswith(b"event: endpoint\n")
        async with http.get(stack.url, headers={**sse, "Mcp-Session-Id": session_id}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert resp.headers["X-Accel-Buffering"] == "no"
            closing = asyncio.create_task(stack.server.close(0.1))
            assert await asyncio.wait_for(resp.content.read(), 5) == b""
            await closing


async def test_sdk_client_session_logging_level_and_ping(stack: Stack) -> None:
    """The SDK client can ping and set the logging level in a session."""
    async with sdk_session(stack.url) as session:
        await session.initialize()
        await session.send_ping()
        with pytest.warns(MCPDeprecationWarning):  # deprecated in 2026-07-28, still valid in sessions
            await session.set_logging_level("debug")


async def test_a_huge_client_info_still_gives_a_usable_session(stack: Stack) -> None:
    """A 6.5 KB clientInfo.description (and bulky capabilities) made an 8.9 KB session id, and the next
    request got aiohttp's plain-text 400 "Got more than 8190 bytes"; now the id is small and it works."""
    params = {
        "protocolVersion": "2025-11-25",
        "capabilities": {"tasks": {"requests": {"tools": {"call": {}}}}, "experimental": {"x": "y" * 4000}},
        "clientInfo": {"name": "Big client " * 20, "version": "1", "description": "d" * 6500},
    }
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    status, _, headers = await _post(stack.url, init)
    assert status == 200
    session_id = headers["Mcp-Session-Id"]
    assert len(session_id) <= 1024
    status, reply, _ = await _post(stack.url, _tools_list(), {"Mcp-Session-Id": session_id})
    assert status == 200
    assert all(t["execution"] == {"taskSupport": "optional"} for t in reply["result"]["tools"])
