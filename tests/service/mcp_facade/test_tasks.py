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
