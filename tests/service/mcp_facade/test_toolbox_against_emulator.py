"""GumloopToolbox against the real proxy in front of the bundled Gumloop emulator (seed scenario 1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gumloop_mcp.emulator import EmulatorSettings, start_emulator
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from services.gumloop_proxy.server import create_server
from services.gumloop_proxy.settings import ProxySettings
from services.mcp_facade.contracts import CallContext, ServerScope
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.tools.toolbox import GumloopToolbox
from tests.service.gumloop_proxy.conftest import create_account


@pytest.fixture
async def toolbox_scope(tmp_path: Path) -> AsyncIterator[tuple[GumloopToolbox, ServerScope]]:
    """Emulator (fast clock) + real proxy + an integrated account + the toolbox."""
    running = await start_emulator(EmulatorSettings(host="127.0.0.1", port=0, time_scale=0.01))
    try:
        settings = ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path, log_json=False)
        server = await create_server(settings)
        async with server as proxy, grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            stub = ProxyServiceStub(channel)
            account = await create_account(stub, running)
            scope = ServerScope(server_id="mcp_1", account_id=account.id, name="emulator")
            yield GumloopToolbox(stub, FacadeSettings()), scope
    finally:
        await running.close()


def ctx() -> CallContext:
    return CallContext(deadline=asyncio.get_running_loop().time() + 60)


async def call(box: GumloopToolbox, scope: ServerScope, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await box.call_tool(scope, name, args, ctx())
    assert result.get("isError") is not True, result["content"]
    return result


async def test_find_a_failed_automation_run_and_read_its_logs(
    toolbox_scope: tuple[GumloopToolbox, ServerScope],
) -> None:
    """Seed scenario 1: automations -> their runs -> a FAILED run whose log explains it."""
    box, scope = toolbox_scope
    automations = await call(box, scope, "list_all_gumloop_automations", {"limit": 100})
    assert automations["structuredContent"]["items"], "the emulator seeds saved items"
    runs: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(20):
        args: dict[str, Any] = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        page = (await call(box, scope, "list_all_gumloop_automation_runs", args))["structuredContent"]
        runs += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    failed = [r for r in runs if str(r.get("state", "")).upper() == "FAILED"]
    assert failed, "the emulator's seed has a failed run"
    run = await call(
        box, scope, "get_single_gumloop_run_by_id", {"run_id": failed[0]["run_id"], "wait_seconds": 5}
    )
    body = run["structuredContent"]
    assert body["state"] == "FAILED" and body["log"]
    assert "finished with state FAILED" in "\n".join(b.get("text", "") for b in run["content"])


async def test_session_waits_to_completion_and_its_artifacts_read_by_kind(
    toolbox_scope: tuple[GumloopToolbox, ServerScope],
) -> None:
    """Seed scenario 2 (tail): start a session, wait for it, list its artifacts, read each one."""
    box, scope = toolbox_scope
    agents = (await call(box, scope, "list_all_gumloop_agents", {"limit": 1}))["structuredContent"]
    assert agents["items"], "the emulator seeds agents"
    agent_id = agents["items"][0]["id"]
    started = await call(
        box, scope, "create_a_gumloop_session", {"agent_id": agent_id, "input": "Write the report"}
    )
    session_id = started["structuredContent"]["session"]["id"]
    assert "wait_seconds" in "\n".join(b.get("text", "") for b in started["content"])
    done = await call(
        box, scope, "get_single_gumloop_session_by_id", {"session_id": session_id, "wait_seconds": 30}
    )
    assert done["structuredContent"]["session"]["state"] in ("completed", "failed", "idle")
    listed = await call(
        box, scope, "list_all_gumloop_artifacts", {"agent_id": agent_id, "session_id": session_id}
    )
    artifacts = listed["structuredContent"]["items"]
    assert artifacts, "a completed session produces artifacts"
    kinds = set()
    for artifact in artifacts:
        read = await call(box, scope, "get_single_gumloop_artifact_by_id", {"artifact_id": artifact["id"]})
        kinds.add(read["structuredContent"]["kind"])
        if read["structuredContent"]["kind"] == "metadata_only":
            assert all(block["type"] == "text" for block in read["content"])
    assert kinds <= {"markdown", "image", "metadata_only"} and len(kinds) >= 2  # several media types
