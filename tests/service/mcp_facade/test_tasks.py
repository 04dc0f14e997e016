"""Task-augmented tools/call for 2025-11-25 clients that declare the tasks capability."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from .conftest import Stack

BOTH = {"Accept": "application/json, text/event-stream"}
TASK_CAPS = {"tasks": {"requests": {"tools": {"call": {}}}}}


class Rpc:
    """A tiny raw JSON-RPC client bound to one session."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url, self.headers, self.next_id = http, url, dict(BOTH), 0

    async def __call__(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
        async with self.http.post(self.url, json=body, headers=self.headers) as resp:
            if "Mcp-Session-Id" in resp.headers:
                self.headers["Mcp-Session-Id"] = resp.headers["Mcp-Session-Id"]
            return await resp.json()


async def test_task_runs_in_background_and_yields_its_result(stack: Stack) -> None:
    """tools/call with `task` returns a working task at once; tasks/get, list and result follow it."""
    async with aiohttp.ClientSession() as http:
        rpc = Rpc(http, stack.url)
        await rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": TASK_CAPS})
        created = await rpc("tools/call", {"name": "slow", "arguments": {}, "task": {"ttl": 60000}})
        task = created["result"]["task"]
        assert task["status"] == "working"
        assert task["ttl"] == 60000
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        got = await rpc("tasks/get", {"taskId": task["taskId"]})
        assert got["result"]["status"] == "working"
        listed = await rpc("tasks/list")
        assert [t["taskId"] for t in listed["result"]["tasks"]] == [task["taskId"]]
        stack.toolbox.release.set()
        result = await rpc("tasks/result", {"taskId": task["taskId"]})
        assert result["result"]["content"][0]["text"] == "slow done"
        assert result["result"]["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task["taskId"]}
        done = await rpc("tasks/get", {"taskId": task["taskId"]})
        assert done["result"]["status"] == "completed"


async def test_task_cancel_cancels_the_running_call(stack: Stack) -> None:
    """tasks/cancel cancels the running call; unknown task ids are -32602."""
    async with aiohttp.ClientSession() as http:
        rpc = Rpc(http, stack.url)
        await rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": TASK_CAPS})
        created = await rpc("tools/call", {"name": "slow", "arguments": {}, "task": {}})
        task_id = created["result"]["task"]["taskId"]
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        cancelled = await rpc("tasks/cancel", {"taskId": task_id})
        assert cancelled["result"]["status"] == "cancelled"
        assert stack.toolbox.cancelled.is_set()
        unknown = await rpc("tasks/get", {"taskId": "nope"})
        assert unknown["error"]["code"] == -32602


async def test_without_tasks_capability_task_param_is_ignored(stack: Stack) -> None:
    """A client that did not declare tasks gets a plain result; tasks/* methods are unknown to it."""
    stack.toolbox.release.set()
    async with aiohttp.ClientSession() as http:
        rpc = Rpc(http, stack.url)
        await rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}})
        reply = await rpc("tools/call", {"name": "echo", "arguments": {"text": "a"}, "task": {}})
        assert reply["result"]["structuredContent"] == {"echo": "mcp_1:a"}
        assert (await rpc("tasks/list"))["error"]["code"] == -32601


async def _tools(rpc: Rpc) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = (await rpc("tools/list"))["result"]["tools"]
    return tools


async def test_tools_say_they_can_run_as_tasks_when_the_client_declared_tasks(stack: Stack) -> None:
    """2025-11-25 + tasks capability: every tool carries execution.taskSupport "optional" (absent is
    "forbidden", so a spec-following client would never send params.task); otherwise none does."""
    async with aiohttp.ClientSession() as http:
        with_tasks = Rpc(http, stack.url)
        await with_tasks("initialize", {"protocolVersion": "2025-11-25", "capabilities": TASK_CAPS})
        tools = await _tools(with_tasks)
        assert tools and all(t["execution"] == {"taskSupport": "optional"} for t in tools)
        for version, caps in (("2025-11-25", {}), ("2025-06-18", TASK_CAPS)):
            other = Rpc(http, stack.url)
            await other("initialize", {"protocolVersion": version, "capabilities": caps})
            assert all("execution" not in t for t in await _tools(other)), version


async def test_modern_clients_get_no_tasks_and_are_told_why(stack: Stack) -> None:
    """2026-07-28 with the tasks extension: nothing advertised, calls answered directly, tasks/* -32601."""
    caps = {"extensions": {"io.modelcontextprotocol/tasks": {}}, "tasks": {}}
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
    }

    async def modern(method: str, params: dict[str, Any], name: str | None = None) -> tuple[int, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
        headers = {**BOTH, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
        if name:
            headers["Mcp-Name"] = name
        async with http.post(stack.url, json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async with aiohttp.ClientSession() as http:
        _, discovered = await modern("server/discover", {})
        capabilities = discovered["result"]["capabilities"]
        assert "tasks" not in capabilities and "extensions" not in capabilities
        _, listed = await modern("tools/list", {})
        assert all("execution" not in t for t in listed["result"]["tools"])
        call = {"name": "echo", "arguments": {"text": "m"}, "task": {"ttl": 1000}}
        _, called = await modern("tools/call", call, name="echo")
        assert called["result"]["structuredContent"] == {"echo": "mcp_1:m"}
        assert called["result"]["resultType"] == "complete"
        status, unknown = await modern("tasks/get", {"taskId": "x"})
        assert (status, unknown["error"]["code"]) == (404, -32601)
        assert "2025-11-25 sessions" in unknown["error"]["message"]
        assert "io.modelcontextprotocol/tasks" in unknown["error"]["message"]
