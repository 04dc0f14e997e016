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


TASKS_EXT = "io.modelcontextprotocol/tasks"


class Modern:
    """Raw 2026-07-28 requests with the given client capabilities."""

    def __init__(self, http: aiohttp.ClientSession, url: str, caps: dict[str, Any]) -> None:
        self.http, self.url, self.caps = http, url, caps

    async def __call__(self, method: str, params: dict[str, Any], name: str | None = None) -> tuple[int, Any]:
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": self.caps,
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
        headers = {**BOTH, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
        name = name or params.get("name") or params.get("taskId")
        if name:
            headers["Mcp-Name"] = name
        async with self.http.post(self.url, json=body, headers=headers) as resp:
            return resp.status, await resp.json()


async def test_modern_tasks_extension_runs_planned_tools_as_tasks(stack: Stack) -> None:
    """2026-07-28 + io.modelcontextprotocol/tasks: advertised under extensions; a planned tool gets a flat
    CreateTaskResult, tasks/get inlines its result, tasks/cancel acks (even once ended); others stay sync."""
    async with aiohttp.ClientSession() as http:
        modern = Modern(http, stack.url, {"extensions": {TASKS_EXT: {}}})
        _, discovered = await modern("server/discover", {})
        capabilities = discovered["result"]["capabilities"]
        assert capabilities["extensions"] == {TASKS_EXT: {}} and "tasks" not in capabilities
        _, listed = await modern("tools/list", {})
        assert all("execution" not in t for t in listed["result"]["tools"])
        # Not planned as a task: answered directly, a legacy `task` param changes nothing.
        _, called = await modern(
            "tools/call", {"name": "echo", "arguments": {"text": "m"}, "task": {"ttl": 1}}
        )
        assert called["result"]["structuredContent"] == {"echo": "mcp_1:m"}
        assert called["result"]["resultType"] == "complete"
        _, created = await modern("tools/call", {"name": "slow", "arguments": {}})
        task = created["result"]
        assert task["resultType"] == "task" and task["status"] == "working"
        assert {"taskId", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs"} <= set(task)
        assert not {"task", "ttl", "pollInterval", "result", "requestState"} & set(task)
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        _, got = await modern("tasks/get", {"taskId": task["taskId"]})
        assert got["result"]["status"] == "working" and "result" not in got["result"]
        stack.toolbox.release.set()
        for _ in range(100):
            _, got = await modern("tasks/get", {"taskId": task["taskId"]})
            if got["result"]["status"] != "working":
                break
            await asyncio.sleep(0.05)
        assert got["result"]["status"] == "completed"
        assert got["result"]["result"]["content"][0]["text"] == "slow done"
        assert "io.modelcontextprotocol/related-task" not in got["result"]["result"].get("_meta", {})
        status, ack = await modern("tasks/cancel", {"taskId": task["taskId"]})
        assert (status, ack["result"]) == (200, {"resultType": "complete"})
        status, unknown = await modern("tasks/get", {"taskId": "nope"})
        assert (status, unknown["error"]["code"]) == (400, -32602)
        for removed in ("tasks/result", "tasks/list"):
            status, reply = await modern(removed, {"taskId": task["taskId"]})
            assert (status, reply["error"]["code"]) == (404, -32601), removed
        status, mismatch = await modern("tasks/get", {"taskId": task["taskId"]}, name="other-task")
        assert (status, mismatch["error"]["code"]) == (400, -32020)


async def test_modern_tasks_need_the_extension(stack: Stack) -> None:
    """Without the extension: planned tools run synchronously, tasks/* are -32021 naming the extension."""
    stack.toolbox.release.set()
    async with aiohttp.ClientSession() as http:
        modern = Modern(http, stack.url, {})
        _, called = await modern("tools/call", {"name": "slow", "arguments": {}})
        assert called["result"]["content"][0]["text"] == "slow done"
        assert called["result"]["resultType"] == "complete"
        for method in ("tasks/get", "tasks/update", "tasks/cancel"):
            status, refused = await modern(method, {"taskId": "t", "inputResponses": {}})
            assert (status, refused["error"]["code"]) == (400, -32021), method
            assert refused["error"]["data"] == {"requiredCapabilities": {"extensions": {TASKS_EXT: {}}}}


async def test_input_required_result_round_trip(stack: Stack) -> None:
    """A tool asking for input: -32021 without elicitation; else InputRequiredResult, retried with the
    answer and the sealed requestState (which the tool gets back); a tampered state is -32602."""
    async with aiohttp.ClientSession() as http:
        status, refused = await Modern(http, stack.url, {})("tools/call", {"name": "ask", "arguments": {}})
        assert (status, refused["error"]["code"]) == (400, -32021)
        assert refused["error"]["data"] == {"requiredCapabilities": {"elicitation": {}}}
        modern = Modern(http, stack.url, {"elicitation": {}})
        _, asked = await modern("tools/call", {"name": "ask", "arguments": {}})
        result = asked["result"]
        assert result["resultType"] == "input_required"
        assert result["inputRequests"]["name"]["method"] == "elicitation/create"
        answer = {"name": {"action": "accept", "content": {"name": "Ada"}}}
        retry = {
            "name": "ask",
            "arguments": {},
            "inputResponses": answer,
            "requestState": result["requestState"],
        }
        _, done = await modern("tools/call", retry)
        assert done["result"]["resultType"] == "complete"
        assert done["result"]["content"][0]["text"] == "hello Ada after 1 question(s)"
        tampered = {**retry, "requestState": result["requestState"][:-2] + "xx"}
        status, bad = await modern("tools/call", tampered)
        assert (status, bad["error"]["code"]) == (400, -32602)
        status, bad = await modern("tools/call", {**retry, "inputResponses": 5})
        assert (status, bad["error"]["code"]) == (400, -32602)


async def test_task_parks_on_input_until_tasks_update_answers(stack: Stack) -> None:
    """In a task, a tool asking for input parks it `input_required` with the requests; tasks/update
    (ignoring unknown keys) acks, and the task re-runs with the answer to completion."""
    async with aiohttp.ClientSession() as http:
        modern = Modern(http, stack.url, {"elicitation": {}, "extensions": {TASKS_EXT: {}}})
        _, created = await modern("tools/call", {"name": "ask", "arguments": {}})
        task_id = created["result"]["taskId"]
        for _ in range(100):
            _, got = await modern("tasks/get", {"taskId": task_id})
            if got["result"]["status"] == "input_required":
                break
            await asyncio.sleep(0.02)
        assert got["result"]["inputRequests"]["name"]["method"] == "elicitation/create"
        _, ack = await modern("tasks/update", {"taskId": task_id, "inputResponses": {"other": {"x": 1}}})
        assert ack["result"] == {"resultType": "complete"}
        _, still = await modern("tasks/get", {"taskId": task_id})
        assert still["result"]["status"] == "input_required"
        answer = {"name": {"action": "accept", "content": {"name": "Bo"}}}
        _, ack = await modern("tasks/update", {"taskId": task_id, "inputResponses": answer})
        assert ack["result"] == {"resultType": "complete"}
        for _ in range(100):
            _, got = await modern("tasks/get", {"taskId": task_id})
            if got["result"]["status"] == "completed":
                break
            await asyncio.sleep(0.02)
        assert got["result"]["result"]["content"][0]["text"] == "hello Bo after 1 question(s)"
