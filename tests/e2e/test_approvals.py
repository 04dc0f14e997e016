"""End to end, with the official MCP client: Gumloop sessions that pause for a human (approval_required).

The emulated agent pauses before a write tool of an MCP server attached with approval_mode "write", and
asks a question (id q1) when a message contains "[ask]". A wait on the session then says what is pending
and how to answer; a client that declared elicitation is asked directly and the wait goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import mcp.types as types
from mcp import ClientSession
from mcp.client.session import ClientRequestContext, ElicitationFnT
from mcp.client.streamable_http import streamable_http_client

from .conftest import Stack
from .test_system import mint, structured

STATUS = "get_single_gumloop_session_by_id"
ANSWER = "gumloop_resolve_session_approvals"


@asynccontextmanager
async def client_for(url: str, elicitation: ElicitationFnT | None = None) -> AsyncIterator[ClientSession]:
    """An official-SDK session; it declares the elicitation capability only when given a callback."""
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(60)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, elicitation_callback=elicitation) as client,
    ):
        await client.initialize()
        yield client


async def paused_session(client: ClientSession, *, slack: bool, text: str) -> str:
    """Create an agent (asking before Slack writes when `slack`), start a session; its id."""
    tools = [{"server_id": "gumloop_slack", "approval_mode": "write"}] if slack else []
    agent = structured(
        await client.call_tool(
            "create_a_gumloop_agent", {"name": "Poster", "model_name": "m", "tools": tools}
        )
    )
    agent_id = str(agent["agent"]["id"])
    started = structured(
        await client.call_tool("create_a_gumloop_session", {"agent_id": agent_id, "input": text})
    )
    return str(started["session"]["id"])


async def wait(client: ClientSession, session_id: str) -> tuple[dict[str, Any], str]:
    result = await client.call_tool(STATUS, {"session_id": session_id, "wait_seconds": 30})
    text = "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
    return structured(result), text


async def test_a_paused_session_is_answered_with_the_approvals_tool(stack: Stack) -> None:
    """(a) wait -> paused result naming the approval and the tool to answer it; answer; wait -> completed."""
    async with client_for(stack.ready["mcp_url"]) as client:
        session_id = await paused_session(client, slack=True, text="Post the weekly numbers")
        body, text = await wait(client, session_id)
        assert body["session"]["state"] == "approval_required"
        pending = body["waiting_for_human"]["pending"]
        assert [p["tool_name"] for p in pending] == ["slack_send_message"]
        action_id = pending[0]["action_request_id"]
        assert "waiting for a human" in text and action_id in text and "slack_send_message" in text
        assert f"call {ANSWER} with session_id={session_id}" in text
        assert body["waiting_for_human"]["answer_with"]["tool"] == ANSWER
        answered = await client.call_tool(
            ANSWER,
            {
                "session_id": session_id,
                "approval_responses": [{"action_request_id": action_id, "action": "accept"}],
            },
        )
        assert structured(answered)["results"][0]["outcome"] == "accepted"
        body, text = await wait(client, session_id)
    assert body["session"]["state"] == "completed", text
    assert "finished with state completed" in text
    assert "slack_send_message" in body["session"]["messages"][-1]["content"]


async def test_a_client_with_elicitation_is_asked_and_the_wait_ends_completed(stack: Stack) -> None:
    """(b) the person answers the question in the client; the same wait call ends completed."""
    asked: list[types.ElicitRequestFormParams] = []

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        asked.append(params)
        return types.ElicitResult(
            action="accept", content={"decision": "accept", "q1": "carefully, step by step"}
        )

    async with client_for(stack.ready["mcp_url"], answer) as client:
        session_id = await paused_session(client, slack=False, text="[ask] Clean the report")
        body, text = await wait(client, session_id)
    assert len(asked) == 1
    assert "The agent has a question" in asked[0].message and session_id in asked[0].message
    assert asked[0].requested_schema["properties"]["q1"]["title"] == "How should I proceed?"
    assert body["session"]["state"] == "completed", text
    assert "The person answered through the client" in text and "accept" in text
    assert "q1=carefully, step by step" in body["session"]["messages"][-1]["content"]


async def test_a_declined_elicitation_leaves_the_session_paused(stack: Stack) -> None:
    """(c) declined: the result says so, still lists what waits, and the session stays paused."""
    declined: list[str] = []

    async def decline(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        declined.append(params.message)
        return types.ElicitResult(action="decline")

    async with client_for(stack.ready["mcp_url"], decline) as client:
        session_id = await paused_session(client, slack=True, text="Post the numbers")
        body, text = await wait(client, session_id)
        again = structured(await client.call_tool(STATUS, {"session_id": session_id}))
    assert len(declined) == 1 and "slack_send_message" in declined[0]
    assert body["session"]["state"] == "approval_required"
    assert "The person declined the question; nothing was answered" in text and "waiting for a human" in text
    assert again["session"]["state"] == "approval_required"


async def test_a_client_without_elicitation_gets_no_elicitation_request(stack: Stack) -> None:
    """(d) no capability declared: no request is sent (the SDK's default callback would refuse it, which
    the result would report), just the paused result."""
    async with client_for(stack.ready["mcp_url"]) as client:
        session_id = await paused_session(client, slack=False, text="[ask] Summarise")
        body, text = await wait(client, session_id)
    assert body["session"]["state"] == "approval_required"
    assert "The person" not in text and "question q1: How should I proceed?" in text


async def test_a_read_only_server_never_sees_the_approvals_tool(stack: Stack) -> None:
    """(e) a read-only scope lists no approvals tool and its paused result says it cannot answer."""
    reader = await mint(stack, {"name": "read only approvals", "config": {"methods": ["read"]}})
    async with client_for(stack.ready["mcp_url"]) as writer:
        session_id = await paused_session(writer, slack=True, text="Post it")

    async def never(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        raise AssertionError("a scope that cannot answer must not ask")

    async with client_for(reader["url"], never) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert STATUS in names and ANSWER not in names
        body, text = await wait(client, session_id)
    assert body["session"]["state"] == "approval_required"
    assert "does not include the answering operation" in text and ANSWER not in text
