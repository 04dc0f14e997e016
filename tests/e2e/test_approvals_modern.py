"""End to end over raw 2026-07-28 HTTP: Gumloop sessions paused for a human, and tasks that hold a run.

The stack runs with a short request deadline (DEADLINE_S) so a task provably outlives the request that
created it. The emulated agent pauses before a write tool of an MCP server attached with approval_mode
"write" (tests/e2e/test_approvals.py has the 2025-11-25 side of the same flow).

- A client that declared elicitation gets an InputRequiredResult asking about the pending approval; the
  retried request carries the answer, the approval is resolved and the wait goes on to completed.
- Without elicitation nothing is asked: the result names the approval tool. A declined answer leaves
  the session paused and says so.
- With the tasks extension, create_session runs as a task that starts the session once, parks in
  input_required past the request deadline, resumes on tasks/update and ends with the final session;
  tasks/cancel of a parked task cancels the Gumloop session (cancel_session).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from .conftest import Stack, start_stack

DEADLINE_S = 5.0
STATUS = "get_single_gumloop_session_by_id"
CREATE = "create_a_gumloop_session"
TASKS_EXT = "io.modelcontextprotocol/tasks"
ELICITATION = {"elicitation": {}}
WITH_TASKS = {"elicitation": {}, "extensions": {TASKS_EXT: {}}}
ACCEPT = {"action": "accept", "content": {"decision": "accept", "reason": "fine"}}


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"GMCP_FACADE_REQUEST_DEADLINE_S": str(DEADLINE_S)}
    with start_stack(tmp_path_factory.mktemp("e2e-approvals-modern"), env_extra=env) as running:
        yield running


class Modern:
    """Raw 2026-07-28 requests declaring `caps`."""

    def __init__(self, http: aiohttp.ClientSession, url: str, caps: dict[str, Any]) -> None:
        self.http, self.url, self.caps = http, url, caps

    async def __call__(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": self.caps,
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
        headers = {
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": method,
        }
        if params.get("name") or params.get("taskId"):
            headers["Mcp-Name"] = str(params.get("name") or params.get("taskId"))
        async with self.http.post(self.url, json=body, headers=headers) as resp:
            reply: dict[str, Any] = await resp.json()
        assert "error" not in reply, reply
        result: dict[str, Any] = reply["result"]
        return result

    async def tool(self, name: str, arguments: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return await self("tools/call", {"name": name, "arguments": arguments, **extra})

    async def until(self, task_id: str, *statuses: str, timeout: float = 20.0) -> dict[str, Any]:
        """tasks/get until the task is in one of `statuses`."""
        async with asyncio.timeout(timeout):
            while True:
                got = await self("tasks/get", {"taskId": task_id})
                if got["status"] in statuses:
                    return got
                await asyncio.sleep(0.05)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(block["text"] for block in result["content"] if block["type"] == "text")


async def slack_agent(client: Modern) -> str:
    """An agent that asks before Slack writes; its id."""
    tools = [{"server_id": "gumloop_slack", "approval_mode": "write"}]
    agent = await client.tool("create_a_gumloop_agent", {"name": "Poster", "model_name": "m", "tools": tools})
    assert not agent.get("isError"), agent
    return str(agent["structuredContent"]["agent"]["id"])


async def paused_session(client: Modern) -> str:
    agent_id = await slack_agent(client)
    started = await client.tool(CREATE, {"agent_id": agent_id, "input": "Post the weekly numbers"})
    assert not started.get("isError"), started
    return str(started["structuredContent"]["session"]["id"])


async def test_a_client_with_elicitation_gets_an_input_required_round_and_the_wait_completes(
    short_stack: Stack, http: aiohttp.ClientSession
) -> None:
    client = Modern(http, short_stack.ready["mcp_url"], ELICITATION)
    session_id = await paused_session(client)
    call = {"session_id": session_id, "wait_seconds": 2}
    asked = await client.tool(STATUS, call)
    assert asked["resultType"] == "input_required", asked
    [(key, request)] = asked["inputRequests"].items()
    assert key.startswith("approval:") and request["method"] == "elicitation/create"
    params = request["params"]
    assert params["mode"] == "form" and session_id in params["message"]
    assert "slack_send_message" in params["message"]
    assert params["requestedSchema"]["properties"]["decision"]["enum"] == ["accept", "reject"]
    done = await client.tool(STATUS, call, inputResponses={key: ACCEPT}, requestState=asked["requestState"])
    assert done["resultType"] == "complete"
    text = text_of(done)
    assert done["structuredContent"]["session"]["state"] == "completed", text
    assert f"The person answered through the client ({key.removeprefix('approval:')} accept)" in text
    assert "slack_send_message" in done["structuredContent"]["session"]["messages"][-1]["content"]


async def test_without_elicitation_nothing_is_asked_and_the_result_names_the_approval_tool(
    short_stack: Stack, http: aiohttp.ClientSession
) -> None:
    client = Modern(http, short_stack.ready["mcp_url"], {})
    session_id = await paused_session(client)
    paused = await client.tool(STATUS, {"session_id": session_id, "wait_seconds": 2})
    assert paused["resultType"] == "complete" and "inputRequests" not in paused
    assert paused["structuredContent"]["session"]["state"] == "approval_required"
    assert paused["structuredContent"]["waiting_for_human"]["answer_with"]["tool"] == (
        "gumloop_resolve_session_approvals"
    )
    text = text_of(paused)
    assert f"call gumloop_resolve_session_approvals with session_id={session_id}" in text
    assert "The person" not in text


async def test_a_declined_round_leaves_the_session_paused(
    short_stack: Stack, http: aiohttp.ClientSession
) -> None:
    client = Modern(http, short_stack.ready["mcp_url"], ELICITATION)
    session_id = await paused_session(client)
    call = {"session_id": session_id, "wait_seconds": 2}
    asked = await client.tool(STATUS, call)
    [key] = asked["inputRequests"]
    declined = await client.tool(
        STATUS, call, inputResponses={key: {"action": "decline"}}, requestState=asked["requestState"]
    )
    assert declined["resultType"] == "complete"
    assert declined["structuredContent"]["session"]["state"] == "approval_required"
    assert "The person declined the question; nothing was answered" in text_of(declined)
    again = await client.tool(STATUS, {"session_id": session_id})
    assert again["structuredContent"]["session"]["state"] == "approval_required"


async def test_a_session_task_outlives_the_request_deadline_and_resumes_on_tasks_update(
    short_stack: Stack, http: aiohttp.ClientSession
) -> None:
    client = Modern(http, short_stack.ready["mcp_url"], WITH_TASKS)
    agent_id = await slack_agent(client)
    loop = asyncio.get_running_loop()
    created = await client.tool(CREATE, {"agent_id": agent_id, "input": "Post the weekly numbers"})
    began = loop.time()
    assert created["resultType"] == "task" and created["status"] == "working", created
    task_id = created["taskId"]
    parked = await client.until(task_id, "input_required")
    [(key, request)] = parked["inputRequests"].items()
    assert "slack_send_message" in request["params"]["message"]
    # Past the deadline of the request that created it, the task still holds the session.
    while loop.time() < began + DEADLINE_S + 1.0:
        assert (await client("tasks/get", {"taskId": task_id}))["status"] == "input_required"
        await asyncio.sleep(0.2)
    assert await client("tasks/update", {"taskId": task_id, "inputResponses": {key: ACCEPT}}) == {
        "resultType": "complete"
    }
    done = await client.until(task_id, "completed", "failed")
    assert done["status"] == "completed", done
    session = done["result"]["structuredContent"]["session"]
    assert session["state"] == "completed"
    assert "slack_send_message" in session["messages"][-1]["content"]
    # The session was started once, not again on the round that brought the answer.
    listed = await client.tool("list_all_gumloop_sessions", {"agent_id": agent_id})
    assert [s["id"] for s in listed["structuredContent"]["items"]] == [session["id"]]


async def test_cancelling_a_parked_session_task_cancels_the_gumloop_session(
    short_stack: Stack, http: aiohttp.ClientSession
) -> None:
    client = Modern(http, short_stack.ready["mcp_url"], WITH_TASKS)
    agent_id = await slack_agent(client)
    created = await client.tool(CREATE, {"agent_id": agent_id, "input": "Post the weekly numbers"})
    task_id = created["taskId"]
    parked = await client.until(task_id, "input_required")
    assert parked["inputRequests"]
    assert await client("tasks/cancel", {"taskId": task_id}) == {"resultType": "complete"}
    ended = await client.until(task_id, "cancelled")
    assert "result" not in ended
    listed = await client.tool("list_all_gumloop_sessions", {"agent_id": agent_id})
    [session] = listed["structuredContent"]["items"]
    assert session["state"] == "failed"  # cancel_session: a paused session becomes failed
