"""The stateless 2026-07-28 revision: server/discover, _meta, Mcp-Method/Mcp-Name, caching."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .conftest import Stack

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
}


def _request(method: str, params: dict[str, Any] | None = None, msg_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": {**(params or {}), "_meta": META}}


async def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    base = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28"}
    if isinstance(body, dict) and "method" in body:
        base["Mcp-Method"] = body["method"]
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=body, headers={**base, **(headers or {})}) as resp,
    ):
        parsed = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, parsed, resp.headers


async def test_server_discover_lists_modern_and_session_versions(stack: Stack) -> None:
    """server/discover has resultType, supportedVersions, capabilities, serverInfo and caching hints."""
    status, reply, _ = await _post(stack.url, _request("server/discover"))
    assert status == 200
    result = reply["result"]
    assert result["resultType"] == "complete"
    assert result["supportedVersions"][0] == "2026-07-28"
    assert "2025-11-25" in result["supportedVersions"]
    assert result["capabilities"]["tools"] == {"listChanged": False}
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "gumloop-mcp"
    assert result["cacheScope"] == "private"
    assert result["ttlMs"] > 0


async def test_tools_list_is_cacheable_with_etag(stack: Stack) -> None:
    """tools/list carries ttlMs/cacheScope, an ETag and Cache-Control; If-None-Match gets 304."""
    status, reply, headers = await _post(stack.url, _request("tools/list"))
    assert status == 200
    assert reply["result"]["resultType"] == "complete"
    assert reply["result"]["cacheScope"] == "private"
    assert [t["name"] for t in reply["result"]["tools"]] == ["echo", "slow"]
    etag = headers["ETag"]
    assert headers["Cache-Control"].startswith("private")
    status, _, again = await _post(stack.url, _request("tools/list"), {"If-None-Match": etag})
    assert status == 304
    assert again["ETag"] == etag


async def test_tools_call_checks_mcp_name_header(stack: Stack) -> None:
    """A matching (even base64-wrapped) Mcp-Name is served; a mismatching one gets 400 / -32020."""
    call = _request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
    wrapped = "=?base64?" + base64.b64encode(b"echo").decode() + "?="
    status, reply, _ = await _post(stack.url, call, {"Mcp-Name": wrapped})
    assert status == 200
    assert reply["result"]["structuredContent"] == {"echo": "mcp_1:x"}
    assert reply["result"]["resultType"] == "complete"
    status, reply, _ = await _post(stack.url, call, {"Mcp-Name": "slow"})
    assert status == 400
    assert reply["error"]["code"] == -32020
    status, reply, _ = await _post(stack.url, call, {"Mcp-Method": "tools/list"})
    assert status == 400
    assert reply["error"]["code"] == -32020


async def test_unsupported_modern_version_is_32022_with_supported_list(stack: Stack) -> None:
    """A _meta protocol version we do not speak gets 400 / -32022 naming the supported ones."""
    body = _request("tools/list")
    body["params"]["_meta"] = {**META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    status, reply, _ = await _post(stack.url, body, {"MCP-Protocol-Version": "2099-01-01"})
    assert status == 400
    assert reply["error"]["code"] == -32022
    assert reply["error"]["data"]["requested"] == "2099-01-01"
    assert "2026-07-28" in reply["error"]["data"]["supported"]


async def test_unknown_method_is_404_32601_in_modern_era(stack: Stack) -> None:
    """On the stateless revision an unknown method is HTTP 404 with -32601."""
    status, reply, _ = await _post(stack.url, _request("prompts/list"))
    assert status == 404
    assert reply["error"]["code"] == -32601


async def test_get_without_session_is_405_for_modern_clients(stack: Stack) -> None:
    """GET on the endpoint is 405 for a stateless client."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(stack.url, headers={"MCP-Protocol-Version": "2026-07-28"}) as resp,
    ):
        assert resp.status == 405


async def test_get_and_delete_are_405_for_modern_clients_even_with_a_session_id(stack: Stack) -> None:
    """2026-07-28 is POST only and ignores Mcp-Session-Id: DELETE and GET get 405 (not 400 "missing
    Mcp-Session-Id"), and the session named is not ended."""
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url, json=init, headers={"Accept": "application/json"}) as resp:
            session_id = resp.headers["Mcp-Session-Id"]
        modern = {"MCP-Protocol-Version": "2026-07-28", "Accept": "text/event-stream"}
        for headers in (modern, {**modern, "Mcp-Session-Id": session_id}):
            async with http.delete(stack.url, headers=headers) as resp:
                assert (resp.status, resp.headers["Allow"]) == (405, "POST")
            async with http.get(stack.url, headers=headers) as resp:
                assert (resp.status, resp.headers["Allow"]) == (405, "POST")
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with http.post(stack.url, json=ping, headers={"Mcp-Session-Id": session_id}) as resp:
            assert resp.status == 200  # still open


async def test_modern_errors_carry_the_spec_http_status(stack: Stack) -> None:
    """-32602 (unknown tool, bad cursor) is HTTP 400 on the stateless revision, as the SDK's server sends
    it; the same errors in a session stay HTTP 200."""
    call = _request("tools/call", {"name": "missing", "arguments": {}})
    status, reply, _ = await _post(stack.url, call, {"Mcp-Name": "missing"})
    assert (status, reply["error"]["code"]) == (400, -32602)
    status, reply, _ = await _post(stack.url, _request("tools/list", {"cursor": "nope"}))
    assert (status, reply["error"]["code"]) == (400, -32602)
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url, json=init, headers={"Accept": "application/json"}) as resp:
            session_id = resp.headers["Mcp-Session-Id"]
        legacy = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "missing"}}
        async with http.post(stack.url, json=legacy, headers={"Mcp-Session-Id": session_id}) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (200, -32602)


async def test_sdk_client_auto_mode_speaks_the_modern_revision(stack: Stack) -> None:
    """The SDK's high-level Client probes server/discover, adopts 2026-07-28 and calls tools."""
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http,
        Client(streamable_http_client(stack.url, http_client=http), mode="auto") as client,
    ):
        tools = await client.list_tools()
        assert [t.name for t in tools.tools] == ["echo", "slow"]
        result = await client.call_tool("echo", {"text": "modern"})
        assert result.structured_content == {"echo": "mcp_1:modern"}


async def test_modern_requests_ignore_a_stale_session_header(stack: Stack) -> None:
    """A 2026-07-28 request is served statelessly even if it carries an unknown Mcp-Session-Id."""
    status, reply, _ = await _post(stack.url, _request("tools/list"), {"Mcp-Session-Id": "s1.stale.id"})
    assert status == 200
    assert len(reply["result"]["tools"]) == 2


async def test_tools_list_without_a_catalog_is_a_retryable_503(stack: Stack) -> None:
    """When the tool layer cannot build the list (proxy down, nothing cached): 503 and -32603, no crash."""
    from services.mcp_facade.contracts import ToolsUnavailableError

    async def unavailable(scope: Any) -> list[dict[str, Any]]:
        raise ToolsUnavailableError("the Gumloop proxy is unreachable")

    original = stack.toolbox.list_tools
    stack.toolbox.list_tools = unavailable  # type: ignore[method-assign]
    try:
        status, reply, _ = await _post(stack.url, _request("tools/list"))
    finally:
        stack.toolbox.list_tools = original  # type: ignore[method-assign]
    assert status == 503
    assert reply["error"]["code"] == -32603
    assert "proxy is unreachable" in reply["error"]["message"]
    status, reply, _ = await _post(stack.url, _request("tools/list"))
    assert status == 200 and reply["result"]["tools"]


async def test_incomplete_meta_is_400_invalid_params(stack: Stack) -> None:
    """A 2026-07-28 request without _meta, its protocolVersion or its clientCapabilities: 400 / -32602."""
    partial = [
        {},
        {"_meta": {k: v for k, v in META.items() if not k.endswith("protocolVersion")}},
        {"_meta": {k: v for k, v in META.items() if not k.endswith("clientCapabilities")}},
    ]
    for msg_id, params in enumerate(partial, start=101):
        body = {"jsonrpc": "2.0", "id": msg_id, "method": "server/discover", "params": params}
        status, reply, _ = await _post(stack.url, body)
        assert (status, reply["id"], reply["error"]["code"]) == (400, msg_id, -32602), params
        assert "_meta" in reply["error"]["message"]


async def test_version_header_differing_from_meta_is_a_header_mismatch_first(stack: Stack) -> None:
    """Header 2026-07-28 with _meta naming another version is -32020, before any version check."""
    body = _request("server/discover")
    body["params"]["_meta"] = {**META, "io.modelcontextprotocol/protocolVersion": "v999.0.0"}
    status, reply, _ = await _post(stack.url, body)
    assert (status, reply["error"]["code"]) == (400, -32020)
    status, reply, _ = await _post(stack.url, _request("tools/list"), {"MCP-Protocol-Version": "2025-11-25"})
    assert (status, reply["error"]["code"]) == (400, -32020)


async def test_missing_standard_headers_are_header_mismatches(stack: Stack) -> None:
    """No Mcp-Method, no Mcp-Name on tools/call, or no MCP-Protocol-Version: 400 / -32020, tool not run."""
    calls_before = len(stack.toolbox.calls)
    call = _request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
    async with aiohttp.ClientSession() as http:
        for headers, body in (
            ({"MCP-Protocol-Version": "2026-07-28"}, _request("tools/list")),
            ({"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}, call),
            ({"Mcp-Method": "tools/call", "Mcp-Name": "echo"}, call),
        ):
            sent = {"Accept": "application/json", **headers}
            async with http.post(stack.url, json=body, headers=sent) as resp:
                reply = await resp.json()
            assert (resp.status, reply["error"]["code"]) == (400, -32020), headers
            assert "missing" in reply["error"]["message"]
    assert len(stack.toolbox.calls) == calls_before
    status, reply, _ = await _post(stack.url, call, {"Mcp-Name": "  echo  "})
    assert status == 200 and reply["result"]["structuredContent"] == {"echo": "mcp_1:x"}


async def test_initialize_and_ping_are_removed_methods_in_the_modern_era(stack: Stack) -> None:
    """initialize / ping with 2026-07-28 metadata: 404 / -32601 with a hint on opening a session."""
    for method in ("initialize", "ping"):
        status, reply, headers = await _post(stack.url, _request(method))
        assert (status, reply["error"]["code"]) == (404, -32601), method
        assert "removed in 2026-07-28" in reply["error"]["message"]
        assert "Mcp-Session-Id" not in headers


async def test_initialize_naming_a_protocol_version_opens_a_session_anyway(stack: Stack) -> None:
    """A legacy initialize (params.protocolVersion) still opens a session even with a 2026-07-28 header."""
    body = _request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}})
    status, reply, headers = await _post(stack.url, body)
    assert status == 200
    assert reply["result"]["protocolVersion"] == "2025-11-25"
    assert headers["Mcp-Session-Id"]


async def test_a_bare_discover_probe_is_answered(stack: Stack) -> None:
    """server/discover with no version anywhere (no header, no _meta) still lists our versions."""
    body = {"jsonrpc": "2.0", "id": 5, "method": "server/discover"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(stack.url, json=body, headers={"Accept": "application/json"}) as resp,
    ):
        reply = await resp.json()
    assert resp.status == 200
    assert "2025-11-25" in reply["result"]["supportedVersions"]


async def test_session_ping_still_answers(stack: Stack) -> None:
    """ping stays a session-era method: after initialize it answers {}."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url, json=init, headers={"Accept": "application/json"}) as resp:
            session_id = resp.headers["Mcp-Session-Id"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        headers = {"Accept": "application/json", "Mcp-Session-Id": session_id}
        headers["MCP-Protocol-Version"] = "2025-11-25"
        async with http.post(stack.url, json=ping, headers=headers) as resp:
            assert (resp.status, (await resp.json())["result"]) == (200, {})


async def test_one_stateless_clients_cancel_never_reaches_anothers_call(stack: Stack) -> None:
    """Two stateless clients of one URL, same request id: B's notifications/cancelled leaves A's call
    alone (cancellation was keyed per server); in 2026-07-28 closing the stream is what cancels."""
    call = _request("tools/call", {"name": "slow", "arguments": {}}, msg_id=1)
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": 1, "_meta": META},
    }
    async with aiohttp.ClientSession() as a, aiohttp.ClientSession() as b:

        async def run() -> Any:
            headers = {
                "Accept": "application/json",
                "MCP-Protocol-Version": "2026-07-28",
                "Mcp-Method": "tools/call",
                "Mcp-Name": "slow",
            }
            async with a.post(stack.url, json=call, headers=headers) as resp:
                return resp.status, await resp.json()

        pending = asyncio.create_task(run())
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        async with b.post(stack.url, json=cancel, headers={"MCP-Protocol-Version": "2026-07-28"}) as resp:
            assert resp.status == 202
        # The notification was handled before the 202; a cancel it caused would land within a few
        # loop turns, far sooner than this.
        await asyncio.sleep(0.1)
        assert not stack.toolbox.cancelled.is_set() and not pending.done()
        stack.toolbox.release.set()
        status, reply = await asyncio.wait_for(pending, 5)
    assert (status, reply["result"]["content"][0]["text"]) == (200, "slow done")


async def test_closing_a_stateless_stream_cancels_its_call(stack: Stack) -> None:
    """The client closing the connection of a running stateless tools/call cancels the call."""
    params = {"name": "slow", "arguments": {}, "_meta": {**META, "progressToken": 1}}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "slow",
    }
    http = aiohttp.ClientSession()
    try:
        resp = await http.post(stack.url, json=call, headers=headers)
        assert resp.content_type == "text/event-stream"
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        resp.close()
    finally:
        await http.close()
    await asyncio.wait_for(stack.toolbox.cancelled.wait(), 2)
