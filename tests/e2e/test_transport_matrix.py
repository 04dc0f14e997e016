"""The transport matrix: the same tool calls over every transport and revision the façade serves.

tools/list, a read tool call, a tool error (an `isError` result) and a server-side wait go over
- Streamable HTTP, stateless 2026-07-28 (raw HTTP: `_meta` and the mirrored headers);
- Streamable HTTP sessions at 2025-11-25, 2025-06-18 and 2025-03-26 (raw HTTP: initialize, then
  `Mcp-Session-Id` and `MCP-Protocol-Version`);
- legacy HTTP+SSE at 2024-11-05 (raw: the endpoint event, POSTs answered on the stream);
- the official `mcp` client over Streamable HTTP (`streamable_http_client`) and over HTTP+SSE
  (`sse_client`), at the revision it negotiates (2025-11-25 with the pinned SDK; it must be one we
  serve). The revisions the SDK client cannot be told to speak go over raw HTTP.
Every one must see exactly the same tools and the same content. The façade runs in-process on
127.0.0.1 with the shared fake token service and a three-tool toolbox.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub
from services.mcp_facade.contracts import CallContext, ServerScope, TaskSupport, UnknownToolError
from services.mcp_facade.protocol.protocol import LEGACY_SSE_VERSIONS, MODERN_VERSIONS
from services.mcp_facade.server import create_server
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.state.backends import Backends
from services.mcp_facade.tools.waits import wait_for_work
from tests.fakes.token_service import FakeTokens

BOTH = "application/json, text/event-stream"
META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
WAIT_S = 0.3
SERVED = (*MODERN_VERSIONS, *LEGACY_SSE_VERSIONS)


class MatrixToolbox:
    """`echo` (a read), `fail` (a tool error: an isError result), `wait` (polls a run that never ends)."""

    async def list_tools(self, scope: ServerScope) -> list[dict[str, Any]]:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        return [
            {"name": name, "description": f"The {name} tool.", "inputSchema": schema}
            for name in ("echo", "fail", "wait")
        ]

    async def call_tool(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        if name == "echo":
            text = f"{scope.server_id}:{arguments.get('text', '')}"
            return {"content": [{"type": "text", "text": text}], "structuredContent": {"echo": text}}
        if name == "fail":
            return {"content": [{"type": "text", "text": "the run does not exist"}], "isError": True}
        if name == "wait":
            polls = 0

            async def poll() -> Any:
                nonlocal polls
                polls += 1
                return {"state": "RUNNING"}

            work = ppb.AsyncWork(state_field="state", terminal_states=["DONE"])
            loop = asyncio.get_running_loop()
            outcome = await wait_for_work(
                poll, work, WAIT_S, ctx, clock=loop.time, first_interval=0.05, max_interval=0.05
            )
            return {"content": [{"type": "text", "text": f"still running ({outcome.reason})"}]}
        raise UnknownToolError(name)

    async def plan_call(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> TaskSupport:
        return "forbidden"


@dataclass
class Seen:
    """What one transport saw, reduced to what must be equal everywhere."""

    tools: list[str]
    echo: tuple[bool, list[tuple[str, str]], Any]
    fail: tuple[bool, list[tuple[str, str]]]
    wait: tuple[bool, list[tuple[str, str]]]


EXPECTED = Seen(
    tools=["echo", "fail", "wait"],
    echo=(False, [("text", "mcp_matrix:hi")], {"echo": "mcp_matrix:hi"}),
    fail=(True, [("text", "the run does not exist")]),
    wait=(False, [("text", "still running (wait_up)")]),
)


def _content(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(str(item["type"]), str(item.get("text", ""))) for item in items]


def _seen_raw(
    listed: dict[str, Any], echo: dict[str, Any], fail: dict[str, Any], wait: dict[str, Any]
) -> Seen:
    return Seen(
        tools=sorted(tool["name"] for tool in listed["tools"]),
        echo=(bool(echo.get("isError")), _content(echo["content"]), echo.get("structuredContent")),
        fail=(bool(fail.get("isError")), _content(fail["content"])),
        wait=(bool(wait.get("isError")), _content(wait["content"])),
    )


async def _sdk_calls(client: ClientSession) -> Seen:
    def content(result: Any) -> list[tuple[str, str]]:
        return _content([item.model_dump() for item in result.content])

    initialized = await client.initialize()
    assert initialized.protocol_version in SERVED, initialized.protocol_version
    listed = await client.list_tools()
    echo = await client.call_tool("echo", {"text": "hi"})
    fail = await client.call_tool("fail", {})
    wait = await client.call_tool("wait", {})
    return Seen(
        tools=sorted(tool.name for tool in listed.tools),
        echo=(bool(echo.is_error), content(echo), echo.structured_content),
        fail=(bool(fail.is_error), content(fail)),
        wait=(bool(wait.is_error), content(wait)),
    )


async def sdk_streamable(url: str) -> Seen:
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as client,
    ):
        return await _sdk_calls(client)


async def sdk_legacy_sse(url: str) -> Seen:
    async with sse_client(f"{url}/sse") as (read, write), ClientSession(read, write) as client:
        return await _sdk_calls(client)


async def _rpc(
    http: aiohttp.ClientSession, url: str, method: str, params: dict[str, Any], headers: dict[str, str]
) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with http.post(url, json=body, headers={"Accept": BOTH, **headers}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/json"
        reply = await resp.json()
    assert "result" in reply, reply
    return reply["result"]


def raw_session(version: str) -> Callable[[str], Awaitable[Seen]]:
    async def run(url: str) -> Seen:
        async with aiohttp.ClientSession() as http:
            params = {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            }
            body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
            async with http.post(url, json=body, headers={"Accept": BOTH}) as resp:
                assert resp.status == 200
                assert (await resp.json())["result"]["protocolVersion"] == version
                headers = {"Mcp-Session-Id": resp.headers["Mcp-Session-Id"], "MCP-Protocol-Version": version}
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            async with http.post(url, json=note, headers={"Accept": BOTH, **headers}) as resp:
                assert resp.status == 202
            calls = [
                await _rpc(http, url, "tools/list", {}, headers),
                *[
                    await _rpc(http, url, "tools/call", {"name": name, "arguments": args}, headers)
                    for name, args in (("echo", {"text": "hi"}), ("fail", {}), ("wait", {}))
                ],
            ]
        return _seen_raw(*calls)

    return run


async def raw_stateless(url: str) -> Seen:
    meta = {META_VERSION: "2026-07-28", META_CAPABILITIES: {}}
    async with aiohttp.ClientSession() as http:

        async def call(method: str, params: dict[str, Any]) -> Any:
            headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
            if "name" in params:
                headers["Mcp-Name"] = params["name"]
            return await _rpc(http, url, method, {**params, "_meta": meta}, headers)

        listed = await call("tools/list", {})
        echo = await call("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
        fail = await call("tools/call", {"name": "fail", "arguments": {}})
        wait = await call("tools/call", {"name": "wait", "arguments": {}})
    return _seen_raw(listed, echo, fail, wait)


async def raw_legacy_sse(url: str) -> Seen:
    """HTTP+SSE at 2024-11-05: the stream's endpoint event names the POST URL; answers come as events."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/sse", headers={"Accept": "text/event-stream"}) as stream,
    ):
        assert stream.status == 200

        async def event() -> tuple[str, str]:
            name = data = ""
            while True:
                line = (await asyncio.wait_for(stream.content.readline(), 10)).decode().rstrip("\r\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif not line and name:
                    return name, data

        kind, endpoint = await event()
        assert kind == "endpoint"
        post_url = url.split("/mcp/")[0] + endpoint
        replies = []
        messages: list[tuple[str, dict[str, Any]]] = [
            (
                "initialize",
                {
                    "protocolVersion": "2024-11-05",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "1"},
                },
            ),
            ("tools/list", {}),
            *[
                ("tools/call", {"name": n, "arguments": a})
                for n, a in (("echo", {"text": "hi"}), ("fail", {}), ("wait", {}))
            ],
        ]
        for number, (method, params) in enumerate(messages):
            body = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
            async with http.post(post_url, json=body) as resp:
                assert resp.status == 202
            kind, data = await event()
            reply = json.loads(data)
            assert kind == "message" and reply["id"] == number and "result" in reply, reply
            replies.append(reply["result"])
            if method == "initialize":
                assert reply["result"]["protocolVersion"] == "2024-11-05"
                note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
                async with http.post(post_url, json=note) as resp:
                    assert resp.status == 202
    return _seen_raw(*replies[1:])


TRANSPORTS: dict[str, Callable[[str], Awaitable[Seen]]] = {
    "streamable-2026-07-28-stateless": raw_stateless,
    "streamable-2025-11-25-session": raw_session("2025-11-25"),
    "streamable-2025-06-18-session": raw_session("2025-06-18"),
    "streamable-2025-03-26-session": raw_session("2025-03-26"),
    "sdk-streamable-http": sdk_streamable,
    "legacy-http-sse-2024-11-05": raw_legacy_sse,
    "sdk-legacy-http-sse": sdk_legacy_sse,
}


@asynccontextmanager
async def _facade() -> AsyncIterator[str]:
    tokens = FakeTokens()
    token = tokens.add_server("mcp_matrix")
    grpc_server, port = await tokens.serve()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    backends = Backends(TokenServiceStub(channel), ProxyServiceStub(channel), {"tokens": channel})
    settings = FacadeSettings(port=0, admin_port=0, session_secret="transport-matrix")
    server = await create_server(settings, backends=backends, toolbox=MatrixToolbox())
    try:
        await asyncio.wait_for(server.resolver.watch_live.wait(), 10)
        yield f"http://127.0.0.1:{server.public_port}/mcp/{token}"
    finally:
        await server.close()
        await channel.close()
        await grpc_server.stop(None)


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_every_transport_and_revision_sees_the_same_tools_and_content(transport: str) -> None:
    async with _facade() as url:
        seen = await asyncio.wait_for(TRANSPORTS[transport](url), 60)
    assert seen == EXPECTED
