"""GumloopToolbox driving the real proxy (grpc.aio on 127.0.0.1:0) in front of a small local upstream.

The upstream is an aiohttp app on 127.0.0.1:0 speaking the few Gumloop routes these tests need
(cursor-paged agents, a run that finishes after a few polls, an artifact with a signed download
link, a rate-limited route), so the whole path — schema validation, paging adapters, waits,
ReadArtifact decoding and 429 mapping — runs over real gRPC and real HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from services.gumloop_proxy.server import create_server
from services.gumloop_proxy.settings import ProxySettings
from services.mcp_facade.contracts import CallContext, ServerScope, UnknownToolError
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.tools.toolbox import GumloopToolbox

AGENTS = [{"id": f"ag_{i}", "name": f"Agent {i}"} for i in range(5)]
REPORT = "# Quarterly report\n\n" + "Revenue grew. " * 400


@dataclass
class Upstream:
    """The local Gumloop stand-in and what it saw."""

    base: str = ""
    run_polls: int = 0
    seen: list[str] = field(default_factory=list)
    started: list[dict[str, Any]] = field(default_factory=list)


def upstream_app(state: Upstream) -> web.Application:
    async def agents(request: web.Request) -> web.Response:
        state.seen.append(str(request.rel_url))
        # as Gumloop documents GET /agents: every agent at once, next_cursor reserved (always null)
        return web.json_response({"agents": AGENTS, "next_cursor": None})

    async def run(request: web.Request) -> web.Response:
        state.run_polls += 1
        done = state.run_polls >= 3
        return web.json_response(
            {
                "user_id": "u1",
                "state": "DONE" if done else "RUNNING",
                "outputs": {"answer": "42"} if done else {},
                "log": ["started", "finished"] if done else ["started"],
            }
        )

    async def artifact(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "download_url": f"{state.base}/files/report.md?signature=s3cr3t",
                "filename": "report.md",
                "media_type": "text/markdown",
                "size": len(REPORT),
            }
        )

    async def file(request: web.Request) -> web.Response:
        return web.Response(text=REPORT, content_type="text/markdown")

    async def teams(request: web.Request) -> web.Response:
        headers = {
            "Retry-After": "17",
            "RateLimit-Limit": "100",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": "17",
        }
        return web.json_response(
            {"error": {"type": "rate_limit_error", "code": "rate_limited", "message": "Too many requests"}},
            status=429,
            headers=headers,
        )

    async def inputs(request: web.Request) -> web.Response:
        return web.json_response(
            {"inputs": [{"name": "topic", "data_type": "string", "description": "What about."}]}
        )

    async def start(request: web.Request) -> web.Response:
        body = await request.json()
        state.started.append(body)
        return web.json_response({"run_id": "run_9", "saved_item_id": body.get("saved_item_id"), "url": "u"})

    app = web.Application()
    app.router.add_get("/api/v1/get_inputs", inputs)
    app.router.add_post("/api/v1/start_pipeline", start)
    app.router.add_get("/api/v1/agents", agents)
    app.router.add_get("/api/v1/get_pl_run", run)
    app.router.add_get("/api/v1/artifacts/{artifact_id}/download", artifact)
    app.router.add_get("/files/report.md", file)
    app.router.add_get("/api/v1/teams", teams)
    return app


@dataclass
class Stack:
    toolbox: GumloopToolbox
    upstream: Upstream
    scope: ServerScope
    proxy: ProxyServiceStub


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """Upstream stand-in + real proxy + an integrated account + the toolbox under test."""
    state = Upstream()
    runner = web.AppRunner(upstream_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.base = f"http://127.0.0.1:{port}"
    settings = ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path)
    async with await create_server(settings) as proxy:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}")
        stub = ProxyServiceStub(channel)
        created = await stub.CreateIntegratedAccount(
            pb.CreateIntegratedAccountRequest(
                account=pb.IntegratedAccount(
                    id="acct_1",
                    display_name="test",
                    user_id="u1",
                    api_base_url=f"{state.base}/api/v1",
                    stream_base_url=f"{state.base}/ws/api/v1",
                ),
                credential=pb.Credential(kind=pb.CREDENTIAL_KIND_API_KEY, secret="test-key"),
            )
        )
        scope = ServerScope(server_id="mcp_1", account_id=created.account.id, name="all")
        try:
            yield Stack(GumloopToolbox(stub, FacadeSettings()), state, scope, stub)
        finally:
            await channel.close()
    await runner.cleanup()


def ctx(seconds: float = 60.0) -> CallContext:
    return CallContext(deadline=asyncio.get_running_loop().time() + seconds)


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(b.get("text", "") for b in result["content"])


async def test_tools_per_scope_over_the_real_catalog(stack: Stack) -> None:
    """Full, read-only and tag-limited scopes list what they admit; hidden tools are unknown."""
    box = stack.toolbox
    everything = {t["name"] for t in await box.list_tools(stack.scope)}
    assert {"list_all_gumloop_artifacts", "create_a_gumloop_session", "gumloop_start_pipeline"} <= everything
    assert box.catalog_version
    reader = ServerScope(
        server_id="r", account_id=stack.scope.account_id, name="r", methods=("read",), tags=("agents",)
    )
    names = {t["name"] for t in await box.list_tools(reader)}
    assert "list_all_gumloop_agents" in names and "get_single_gumloop_agent_by_id" in names
    assert not any(n.startswith(("create_", "update_", "delete_", "gumloop_")) for n in names)
    with pytest.raises(UnknownToolError):
        await box.call_tool(reader, "create_a_gumloop_agent", {"name": "x"}, ctx())


async def test_list_tool_pages_through_the_upstream_cursor(stack: Stack) -> None:
    """limit/cursor walk every agent exactly once; the last page has no next_cursor. Gumloop documents
    no paging for GET /agents, so the façade pages the whole answer itself."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        args: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        result = await stack.toolbox.call_tool(stack.scope, "list_all_gumloop_agents", args, ctx())
        assert result.get("isError") is not True, text_of(result)
        seen += [a["id"] for a in result["structuredContent"]["items"]]
        cursor = result["structuredContent"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [a["id"] for a in AGENTS]
    assert not any("page_size" in url for url in stack.upstream.seen if "/agents" in url)


async def test_get_run_with_wait_seconds_reaches_the_terminal_state(stack: Stack) -> None:
    """wait_seconds polls the run through the proxy until DONE, with progress."""
    progress: list[float] = []

    async def sink(value: float, total: float | None = None, message: str | None = None) -> None:
        progress.append(value)

    context = ctx()
    context.progress = sink
    result = await stack.toolbox.call_tool(
        stack.scope, "get_single_gumloop_run_by_id", {"run_id": "run_1", "wait_seconds": 20}, context
    )
    assert result.get("isError") is not True, text_of(result)
    assert result["structuredContent"]["state"] == "DONE"
    assert stack.upstream.run_polls == 3 and progress == [1.0, 2.0]


async def test_artifact_read_returns_markdown_with_paging(stack: Stack) -> None:
    """The artifact's Markdown comes back in windows with a next offset."""
    args = {"artifact_id": "art_1", "limit": 1000}
    first = await stack.toolbox.call_tool(stack.scope, "get_single_gumloop_artifact_by_id", args, ctx())
    assert first.get("isError") is not True, text_of(first)
    assert first["content"][0]["text"].startswith("# Quarterly report")
    meta = first["structuredContent"]
    assert meta["truncated"] is True and meta["next_offset"] > 0 and meta["filename"] == "report.md"
    second = await stack.toolbox.call_tool(
        stack.scope, "get_single_gumloop_artifact_by_id", args | {"offset": meta["next_offset"]}, ctx()
    )
    assert second["structuredContent"]["offset"] == meta["next_offset"]


async def test_rate_limit_passes_through_as_a_tool_error(stack: Stack) -> None:
    """An upstream 429 becomes isError with retry_after_seconds and the rate-limit fields."""
    result = await stack.toolbox.call_tool(stack.scope, "list_all_gumloop_teams", {}, ctx())
    assert result["isError"] is True
    sc = result["structuredContent"]
    assert sc["retry_after_seconds"] == 17 and sc["remaining"] == 0 and sc["limit"] == 100
    assert "17 seconds" in text_of(result)


async def test_bad_arguments_never_reach_upstream(stack: Stack) -> None:
    """A schema violation is a tool error naming the field, with no upstream request."""
    before = len(stack.upstream.seen)
    result = await stack.toolbox.call_tool(stack.scope, "list_all_gumloop_agents", {"limit": "many"}, ctx())
    assert (
        result["isError"] is True and result["structuredContent"]["field_violations"][0]["field"] == "limit"
    )
    assert len(stack.upstream.seen) == before


async def test_start_pipeline_checks_flow_inputs_then_starts_and_points_at_the_wait(stack: Stack) -> None:
    """A missing flow input is named before upstream; a good call starts and says how to wait."""
    box, scope = stack.toolbox, stack.scope
    bad = await box.call_tool(
        scope, "gumloop_start_pipeline", {"saved_item_id": "si_1", "pipeline_inputs": {}}, ctx()
    )
    assert bad["isError"] is True
    assert [v["field"] for v in bad["structuredContent"]["field_violations"]] == ["pipeline_inputs.topic"]
    assert stack.upstream.started == []
    good = await box.call_tool(
        scope, "gumloop_start_pipeline", {"saved_item_id": "si_1", "pipeline_inputs": {"topic": "q3"}}, ctx()
    )
    assert good.get("isError") is not True, text_of(good)
    assert good["structuredContent"]["run_id"] == "run_9"
    assert "get_single_gumloop_run_by_id" in text_of(good) and "run_id=run_9" in text_of(good)
    assert stack.upstream.started and stack.upstream.started[0]["saved_item_id"] == "si_1"


async def test_the_official_mcp_client_accepts_tools_and_structured_results(stack: Stack) -> None:
    """Through the real façade app, the MCP SDK lists the tools and validates structuredContent."""
    from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as tokens_grpc
    from services.mcp_facade.server import create_server as create_facade
    from services.mcp_facade.state.backends import Backends
    from tests.fakes.token_service import FakeTokens
    from tests.service.mcp_facade.conftest import sdk_session

    tokens = FakeTokens()
    token = tokens.add_server()  # read-only scope on acct_1
    grpc_server, port = await tokens.serve()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    settings = FacadeSettings(host="127.0.0.1", port=0, admin_port=0)
    backends = Backends(tokens_grpc.TokenServiceStub(channel), stack.proxy, {"tokens": channel})
    facade = await create_facade(settings, backends=backends)
    try:
        async with sdk_session(f"http://127.0.0.1:{facade.public_port}/mcp/{token}") as session:
            await session.initialize()
            listed = await session.list_tools()
            names = {t.name for t in listed.tools}
            assert "list_all_gumloop_agents" in names and "create_a_gumloop_agent" not in names
            page = await session.call_tool("list_all_gumloop_agents", {"limit": 2})
            assert not page.is_error and page.structured_content is not None
            assert [a["id"] for a in page.structured_content["items"]] == ["ag_0", "ag_1"]
            run = await session.call_tool("get_single_gumloop_run_by_id", {"run_id": "r", "wait_seconds": 10})
            assert not run.is_error and run.structured_content is not None
            assert run.structured_content["state"] == "DONE"
            limited = await session.call_tool("list_all_gumloop_teams", {})
            assert limited.is_error and limited.structured_content is not None
            assert limited.structured_content["retry_after_seconds"] == 17
    finally:
        await facade.close()
        await channel.close()
        await grpc_server.stop(0)
