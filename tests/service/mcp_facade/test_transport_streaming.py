"""Streaming answers: progress and log notifications over SSE, cancellation, deadlines."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from .conftest import Stack, sdk_session

BOTH = {"Accept": "application/json, text/event-stream"}


async def _session(stack: Stack) -> str:
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    async with aiohttp.ClientSession() as http, http.post(stack.url, json=body, headers=BOTH) as resp:
        session_id: str = resp.headers["Mcp-Session-Id"]
        return session_id


def _call(msg_id: int, name: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": {}}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": params}


async def test_sdk_progress_callback_receives_progress(stack: Stack) -> None:
    """A call with a progress token streams notifications/progress before the result."""
    seen: list[tuple[float, float | None, str | None]] = []
    got_two = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))
        if len(seen) == 2:
            got_two.set()

    async with sdk_session(stack.url) as session:
        await session.initialize()
        call = asyncio.create_task(session.call_tool("slow", {}, progress_callback=on_progress))
        await asyncio.wait_for(got_two.wait(), 5)
        stack.toolbox.release.set()
        result = await asyncio.wait_for(call, 5)
    assert result.content[0].text == "slow done"  # type: ignore[union-attr]
    assert seen == [(1, 3, "step one"), (2, 3, "step two")]


async def test_sse_answer_carries_progress_and_log_messages(stack: Stack) -> None:
    """With a log level set, the SSE answer carries notifications/message too, then the response."""
    session_id = await _session(stack)
    headers = {**BOTH, "Mcp-Session-Id": session_id}
    set_level = {"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "info"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.url, json=set_level, headers=headers) as resp:
            assert (await resp.json())["result"] == {}
        stack.toolbox.release.set()
        async with http.post(
            stack.url, json=_call(2, "slow", {"progressToken": "p1"}), headers=headers
        ) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            raw = await resp.text()
    events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    methods = [e.get("method", "response") for e in events]
    assert methods == [
        "notifications/progress",
        "notifications/message",
        "notifications/progress",
        "response",
    ]
    assert events[0]["params"]["progressToken"] == "p1"
    assert events[1]["params"]["data"] == {"msg": "working"}
    assert events[-1]["id"] == 2


async def test_json_only_client_gets_plain_json_and_progress_is_dropped(stack: Stack) -> None:
    """A client accepting only JSON gets one JSON response even with a progress token."""
    session_id = await _session(stack)
    stack.toolbox.release.set()
    headers = {"Accept": "application/json", "Mcp-Session-Id": session_id}
    async with (
        aiohttp.ClientSession() as http,
        http.post(stack.url, json=_call(3, "slow", {"progressToken": 9}), headers=headers) as resp,
    ):
        assert resp.content_type == "application/json"
        assert (await resp.json())["result"]["content"][0]["text"] == "slow done"


async def test_cancelled_notification_cancels_the_running_tool_call(stack: Stack) -> None:
    """notifications/cancelled for a running tools/call cancels the toolbox call."""
    session_id = await _session(stack)
    headers = {"Accept": "application/json", "Mcp-Session-Id": session_id}
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}
    async with aiohttp.ClientSession() as http:

        async def call() -> Any:
            async with http.post(stack.url, json=_call(7, "slow"), headers=headers) as resp:
                return await resp.json()

        pending = asyncio.create_task(call())
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        async with http.post(stack.url, json=cancel, headers=headers) as resp:
            assert resp.status == 202
        await asyncio.wait_for(stack.toolbox.cancelled.wait(), 2)
        reply = await asyncio.wait_for(pending, 5)
    assert reply["id"] == 7
    assert reply["error"]["message"] == "Request cancelled"


async def test_request_deadline_reaches_the_call_context(stack: Stack) -> None:
    """CallContext.deadline is request_deadline_s ahead on the loop clock."""
    async with sdk_session(stack.url) as session:
        await session.initialize()
        await session.call_tool("echo", {"text": "t"})
    assert 29.0 < stack.toolbox.deadlines[-1] <= 30.0


async def test_graceful_shutdown_lets_in_flight_calls_finish_and_refuses_new_ones(stack: Stack) -> None:
    """During shutdown new requests get 503 while a running call completes within the grace period."""
    session_id = await _session(stack)
    headers = {"Accept": "application/json", "Mcp-Session-Id": session_id}
    async with aiohttp.ClientSession() as http:

        async def call() -> Any:
            async with http.post(stack.url, json=_call(11, "slow"), headers=headers) as resp:
                return await resp.json()

        pending = asyncio.create_task(call())
        await asyncio.wait_for(stack.toolbox.started.wait(), 5)
        closing = asyncio.create_task(stack.server.close(5.0))
        while not stack.server.facade.closing.is_set():
            await asyncio.sleep(0.01)
        async with http.post(stack.url, json=_call(12, "echo"), headers=headers) as resp:
            assert resp.status == 503
        stack.toolbox.release.set()
        reply = await asyncio.wait_for(pending, 5)
        await asyncio.wait_for(closing, 5)
    assert reply["result"]["content"][0]["text"] == "slow done"
    assert not stack.toolbox.cancelled.is_set()
