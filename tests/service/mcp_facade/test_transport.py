"""Streamable HTTP: session revisions through the official SDK client, and raw JSON-RPC errors."""

from __future__ import annotations

from typing import Any

import aiohttp

from .conftest import Stack, sdk_session

SESSION_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as http:
        data = body if isinstance(body, (bytes, str)) else None
        kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        async with http.post(url, headers={**SESSION_HEADERS, **(headers or {})}, **kwargs) as resp:
            text = await resp.text()
            parsed = None
            if resp.content_type == "application/json" and text:
                parsed = await resp.json()
            return resp.status, parsed, resp.headers


async def _initialize(
    url: str, version: str = "2025-11-25", caps: dict[str, Any] | None = None
) -> tuple[str, Any]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": caps or {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    status, reply, headers = await _post(url, body)
    assert status == 200, reply
    return headers["Mcp-Session-Id"], reply


async def test_sdk_client_initializes_lists_and_calls_tools(stack: Stack) -> None:
    """The official SDK client negotiates 2025-11-25, lists the fake tools and calls one."""
    async with sdk_session(stack.url) as session:
        init = await session.initialize()
        assert init.protocol_version == "2025-11-25"
        assert init.server_info.name == "gumloop-mcp"
        tools = await session.list_tools()
        assert [t.name for t in tools.tools] == ["echo", "slow"]
        result = await session.call_tool("echo", {"text": "hi"})
        assert result.is_error is False
        assert result.structured_content == {"echo": "mcp_1:hi"}


async def test_initialize_echoes_each_supported_session_revision(stack: Stack) -> None:
    """2025-11-25, 2025-06-18 and 2025-03-26 are echoed; only 2025-11-25 advertises tasks."""
    for version in ("2025-11-25", "2025-06-18", "2025-03-26"):
        _, reply = await _initialize(stack.url, version)
        assert reply["result"]["protocolVersion"] == version
        assert ("tasks" in reply["result"]["capabilities"]) == (version == "2025-11-25")
        assert "tools" in reply["result"]["capabilities"]


async def test_initialize_with_unsupported_revision_offers_latest(stack: Stack) -> None:
    """An unknown requested version is answered with 2025-11-25."""
    _, reply = await _initialize(stack.url, "1999-01-01")
    assert reply["result"]["protocolVersion"] == "2025-11-25"


async def test_malformed_json_is_parse_error_with_null_id(stack: Stack) -> None:
    """A body that is not JSON gets HTTP 400 and -32700 with id null."""
    status, reply, _ = await _post(stack.url, b"{not json")
    assert status == 400
    assert reply == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": reply["error"]["message"]},
    }


async def test_not_a_jsonrpc_object_is_invalid_request(stack: Stack) -> None:
    """Wrong jsonrpc version, null id, or a scalar body get -32600."""
    for body in (
        {"jsonrpc": "1.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": None, "method": "x"},
        7,
    ):
        status, reply, _ = await _post(stack.url, body)
        assert status == 400
        assert reply["error"]["code"] == -32600


async def test_request_without_session_is_400_invalid_request(stack: Stack) -> None:
    """A non-initialize request with neither session nor modern _meta gets 400 / -32600 (never 404/-32601)."""
    status, reply, _ = await _post(stack.url, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
    assert status == 400
    assert reply["error"]["code"] == -32600
    assert reply["id"] == 3


async def test_unknown_method_and_unknown_tool_and_bad_params(stack: Stack) -> None:
    """-32601 for an unknown method, -32602 for an unknown tool, bad arguments or a bad log level."""
    session_id, _ = await _initialize(stack.url)
    headers = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    cases = [
        ({"method": "resources/list"}, -32601),
        ({"method": "tools/call", "params": {"name": "nope", "arguments": {}}}, -32602),
        ({"method": "tools/call", "params": {"name": "echo", "arguments": [1]}}, -32602),
        ({"method": "logging/setLevel", "params": {"level": "loud"}}, -32602),
        ({"method": "tools/list", "params": {"cursor": "garbage"}}, -32602),
    ]
    for n, (call, code) in enumerate(cases):
        status, reply, _ = await _post(stack.url, {"jsonrpc": "2.0", "id": n, **call}, headers)
        assert status == 200, reply
        assert reply["error"]["code"] == code, (call, reply)
        assert reply["id"] == n


async def test_unsupported_protocol_version_header_is_400(stack: Stack) -> None:
    """An unsupported MCP-Protocol-Version header is refused; any other supported one is fine."""
    session_id, _ = await _initialize(stack.url)
    ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    status, reply, _ = await _post(
        stack.url, ping, {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2030-01-01"}
    )
    assert status == 400
    assert reply["error"]["code"] == -32600
    status, reply, _ = await _post(
        stack.url, ping, {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-03-26"}
    )
    assert (status, reply["result"]) == (200, {})


async def test_every_session_post_checks_the_protocol_version_header(stack: Stack) -> None:
    """Not only JSON answers: an SSE-answered call, a notification, a response, a batch, GET and DELETE
    with an unsupported MCP-Protocol-Version get 400 and do nothing."""
    session_id, _ = await _initialize(stack.url)
    old, _ = await _initialize(stack.url, "2025-03-26")
    bad = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2030-01-01"}
    streamed = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {}, "_meta": {"progressToken": "p"}},
    }
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    response = {"jsonrpc": "2.0", "id": 7, "result": {}}
    batch = [{"jsonrpc": "2.0", "id": 3, "method": "ping"}]
    for body, headers in (
        (streamed, bad),
        (notification, bad),
        (response, bad),
        (batch, {**bad, "Mcp-Session-Id": old}),
    ):
        status, reply, resp_headers = await _post(stack.url, body, headers)
        assert status == 400, body
        assert resp_headers["Content-Type"].startswith("application/json")
        assert reply["error"]["code"] == -32600
    assert stack.toolbox.calls == []  # the streamed call never ran
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.url, headers={**bad, "Accept": "text/event-stream"}) as resp:
            assert resp.status == 400
        async with http.delete(stack.url, headers=bad) as resp:
            assert resp.status == 400
    # Any supported version is accepted, on notifications too; the session was not ended.
    ok = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-03-26"}
    assert (await _post(stack.url, notification, ok))[0] == 202
    assert (await _post(stack.url, {"jsonrpc": "2.0", "id": 4, "method": "ping"}, ok))[0] == 200


async def test_batches_only_in_2025_03_26_sessions(stack: Stack) -> None:
    """A JSON array is answered as a batch in a 2025-03-26 session and refused with -32600 in 2025-11-25."""
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    old, _ = await _initialize(stack.url, "2025-03-26")
    status, reply, _ = await _post(stack.url, batch, {"Mcp-Session-Id": old})
    assert status == 200
    assert [r["id"] for r in reply] == [1, 2]
    assert len(reply[1]["result"]["tools"]) == 2
    new, _ = await _initialize(stack.url, "2025-11-25")
    status, reply, _ = await _post(stack.url, batch, {"Mcp-Session-Id": new})
    assert status == 400
    assert reply["error"]["code"] == -32600


async def test_lax_accept_headers_get_json(stack: Stack) -> None:
    """Accept: */* or application/json alone still gets a JSON answer, never 406."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    for accept in ("*/*", "application/json"):
        status, reply, headers = await _post(stack.url, body, {"Accept": accept})
        assert status == 200
        assert headers["Content-Type"].startswith("application/json")
        assert reply["result"]["protocolVersion"] == "2025-11-25"


async def test_notifications_are_accepted_with_202(stack: Stack) -> None:
    """notifications/initialized in a session gets 202 with no body."""
    session_id, _ = await _initialize(stack.url)
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    status, reply, _ = await _post(stack.url, note, {"Mcp-Session-Id": session_id})
    assert (status, reply) == (202, None)
