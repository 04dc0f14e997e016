"""Raw MCP requests for the load generator: the modern stateless era and the session-based era.

The official SDK client is what the tests use; here the wire is spoken directly so that the client's
own cost stays small next to the server's.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
_ids = itertools.count(1)


def _meta() -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "gumloop-mcp-bench", "version": "1"},
    }


async def read_jsonrpc(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The JSON-RPC message of an answer, whether it came as JSON or as an SSE stream."""
    text = await response.text()
    if response.content_type == "text/event-stream":
        message: dict[str, Any] = {}
        for line in text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                candidate = json.loads(line[5:].strip())
                if "result" in candidate or "error" in candidate:
                    message = candidate
        return message
    return json.loads(text) if text else {}


def succeeded(status: int, message: dict[str, Any]) -> bool:
    """A 2xx answer whose JSON-RPC result is present and not a tool error."""
    result = message.get("result")
    return 200 <= status < 300 and isinstance(result, dict) and not result.get("isError")


async def modern_request(
    session: aiohttp.ClientSession, url: str, method: str, params: dict[str, Any], name: str | None = None
) -> tuple[int, dict[str, Any]]:
    """One stateless (2026-07-28) request."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    if name is not None:
        headers["Mcp-Name"] = name
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": {**params, "_meta": _meta()}}
    async with session.post(url, json=body, headers=headers) as response:
        return response.status, await read_jsonrpc(response)


async def modern_tool_call(
    session: aiohttp.ClientSession, url: str, tool: str, arguments: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """tools/call in the stateless era."""
    return await modern_request(session, url, "tools/call", {"name": tool, "arguments": arguments}, tool)


async def open_session(session: aiohttp.ClientSession, url: str) -> str:
    """initialize + notifications/initialized in the session era; returns the Mcp-Session-Id."""
    body = {
        "jsonrpc": "2.0",
        "id": next(_ids),
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "gumloop-mcp-bench", "version": "1"},
        },
    }
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    async with session.post(url, json=body, headers=headers) as response:
        await read_jsonrpc(response)
        session_id = response.headers.get("Mcp-Session-Id", "")
        if response.status != 200 or not session_id:
            raise RuntimeError(f"initialize failed with HTTP {response.status}")
    headers.update({"Mcp-Session-Id": session_id, "MCP-Protocol-Version": LEGACY})
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    async with session.post(url, json=note, headers=headers) as response:
        await response.read()
    return session_id


async def session_request(
    session: aiohttp.ClientSession, url: str, session_id: str, method: str, params: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """One request on an open session."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Mcp-Session-Id": session_id,
        "MCP-Protocol-Version": LEGACY,
    }
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}
    async with session.post(url, json=body, headers=headers) as response:
        return response.status, await read_jsonrpc(response)
