"""Infrastructure for the façade's protocol-layer service tests.

The fake TokenService (tests/fakes/token_service.py, grpc.aio on 127.0.0.1:0) and a fake Toolbox
stand in for the token service and the tool layer, so these tests exercise only the protocol layer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.runtime import SYSTEM_CLOCK, Clock
from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub
from services.mcp_facade.contracts import CallContext, ServerScope, TaskSupport, UnknownToolError
from services.mcp_facade.protocol.input_required import InputRequired, elicitation
from services.mcp_facade.server import FacadeServer, create_server
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.state.backends import Backends
from services.mcp_facade.tools.waits import wait_for_work
from tests.fakes.token_service import FakeTokens


@dataclass
class FakeToolbox:
    """Tools: `echo` (instant), `slow` (progress then waits until cancelled or released), `fail`.

    Unlisted: `wait` polls a run that never ends every 50 ms for `wait_seconds` (counted in `polls`),
    as a status tool's server-side wait polls Gumloop; `ask` asks the client for a name
    (input-required, or elicitation/create on the call's stream in a session that declared
    elicitation) and answers with it. Under the 2026-07-28 tasks extension `slow` and `ask`
    may run as tasks (`plan_call`).
    """

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    deadlines: list[float] = field(default_factory=list)
    polls: int = 0
    # Set when a `wait` call has returned or was cancelled: it polls no more.
    wait_ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def list_tools(self, scope: ServerScope) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "title": name.title(),
                "description": f"The {name} tool.",
                "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
                "annotations": {"title": name.title(), "readOnlyHint": True, "destructiveHint": False},
            }
            for name in ("echo", "slow")
        ]

    async def call_tool(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        self.calls.append((name, arguments))
        self.deadlines.append(ctx.deadline - asyncio.get_running_loop().time())
        if name == "echo":
            text = f"{scope.server_id}:{arguments.get('text', '')}"
            return {"content": [{"type": "text", "text": text}], "structuredContent": {"echo": text}}
        if name == "slow":
            self.started.set()
            await ctx.progress(1, 3, "step one")
            await ctx.log("info", {"msg": "working"})
            await ctx.progress(2, 3, "step two")
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            return {"content": [{"type": "text", "text": "slow done"}]}
        if name == "wait":
            return await self._wait(float(arguments.get("wait_seconds", 60)), ctx)
        if name == "ask" and ctx.elicit is not None:  # a session client that declared elicitation
            schema = {"type": "object", "properties": {"name": {"type": "string"}}}
            result = await ctx.elicit({"message": "Your name?", "requestedSchema": schema})
            return {
                "content": [
                    {"type": "text", "text": f"hello {result['content']['name']}, asked on the stream"}
                ]
            }
        if name == "ask":
            answer = ctx.inputs.responses.get("name")
            if answer is None:
                schema = {"type": "object", "properties": {"name": {"type": "string"}}}
                raise InputRequired({"name": elicitation("Your name?", schema)}, state={"asked": 1})
            asked = (ctx.inputs.state or {}).get("asked")
            text = f"hello {answer['content']['name']} after {asked} question(s)"
            return {"content": [{"type": "text", "text": text}]}
        raise UnknownToolError(name)

    async def plan_call(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> TaskSupport:
        return "optional" if name in ("slow", "ask") else "forbidden"

    async def _wait(self, wait_seconds: float, ctx: CallContext) -> dict[str, Any]:
        async def poll() -> Any:
            self.polls += 1
            self.started.set()
            return {"state": "RUNNING"}

        work = ppb.AsyncWork(state_field="state", terminal_states=["DONE"])
        loop = asyncio.get_running_loop()
        try:
            outcome = await wait_for_work(
                poll, work, wait_seconds, ctx, clock=loop.time, first_interval=0.05, max_interval=0.05
            )
        finally:
            self.wait_ended.set()
        return {"content": [{"type": "text", "text": f"stopped waiting: {outcome.reason}"}]}


@asynccontextmanager
async def sdk_session(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """An official-SDK ClientSession over streamable HTTP (not yet initialized)."""
    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(30)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        yield session


@dataclass
class Stack:
    """A running façade with its fakes."""

    server: FacadeServer
    tokens: FakeTokens
    toolbox: FakeToolbox
    token: str
    settings: FacadeSettings
    make: Callable[..., Awaitable[FacadeServer]]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.public_port}"

    @property
    def url(self) -> str:
        return f"{self.base}/mcp/{self.token}"


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    """Fake token service + fake toolbox + a real façade on free loopback ports."""
    tokens = FakeTokens()
    grpc_server, port = await tokens.serve()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    backends = Backends(TokenServiceStub(channel), ProxyServiceStub(channel), {"tokens": channel})
    toolbox = FakeToolbox()
    servers: list[FacadeServer] = []

    async def make(clock: Clock = SYSTEM_CLOCK, *, tools: Any = None, **overrides: Any) -> FacadeServer:
        """Another façade on the same fakes (or the toolbox `tools`): settings `overrides`, expiries
        read on `clock`."""
        values: dict[str, Any] = {
            "port": 0,
            "admin_port": 0,
            "session_secret": "test-secret-shared-by-replicas",
            "request_deadline_s": 30.0,
        }
        values.update(overrides)
        server = await create_server(
            FacadeSettings(**values), backends=backends, toolbox=tools or toolbox, clock=clock
        )
        servers.append(server)
        await asyncio.wait_for(server.resolver.watch_live.wait(), 5)
        return server

    server = await make()
    token = tokens.add_server()
    try:
        yield Stack(server, tokens, toolbox, token, FacadeSettings(), make)
    finally:
        toolbox.release.set()
        for item in servers:
            await item.close()
        await channel.close()
        await grpc_server.stop(None)
