"""Two façade replicas on one Redis (store=redis): any replica serves any request."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from services.mcp_facade.server import FacadeServer

from .conftest import Stack

BOTH = {"Accept": "application/json, text/event-stream"}
TASK_CAPS = {"tasks": {"requests": {"tools": {"call": {}}}}}
PREFIX = "gmcp:facade:"


@dataclass
class Pair:
    """Two replicas sharing Redis and the session secret, plus an HTTP client."""

    stack: Stack
    one: FacadeServer
    two: FacadeServer
    http: aiohttp.ClientSession
    redis_url: str

    def url(self, replica: FacadeServer) -> str:
        return f"http://127.0.0.1:{replica.public_port}/mcp/{self.stack.token}"


@pytest.fixture
async def pair(stack: Stack, clean_redis_url: str) -> AsyncIterator[Pair]:
    """Replicas one and two (store=redis) over the stack's fake token service and toolbox."""
    one = await stack.make(store="redis", redis_url=clean_redis_url, calls_per_minute=4)
    two = await stack.make(store="redis", redis_url=clean_redis_url, calls_per_minute=4)
    async with aiohttp.ClientSession() as http:
        yield Pair(stack, one, two, http, clean_redis_url)


async def rpc(
    pair: Pair, replica: FacadeServer, method: str, params: dict[str, Any] | None = None, session: str = ""
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    """POST one JSON-RPC request to a replica; (status, parsed JSON or SSE text, headers)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    headers = {**BOTH, **({"Mcp-Session-Id": session} if session else {})}
    async with pair.http.post(pair.url(replica), json=body, headers=headers) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json(), resp.headers
        return resp.status, await resp.text(), resp.headers


async def initialize(pair: Pair, replica: FacadeServer, caps: dict[str, Any] | None = None) -> str:
    """Open a 2025-11-25 session on `replica`; its id."""
    params = {"protocolVersion": "2025-11-25", "capabilities": caps or {}}
    status, _, headers = await rpc(pair, replica, "initialize", params)
    assert status == 200
    return str(headers["Mcp-Session-Id"])


async def test_call_budget_is_shared_by_the_replicas(pair: Pair) -> None:
    """4 calls/min split over two replicas exhaust one budget: the fifth is refused on either."""
    session = await initialize(pair, pair.one)
    texts = []
    for i in range(5):
        replica = pair.one if i % 2 else pair.two
        status, reply, _ = await rpc(pair, replica, "tools/call", {"name": "echo", "arguments": {}}, session)
        assert status == 200
        texts.append(reply["result"].get("structuredContent"))
    assert texts[:4] == [{"echo": "mcp_1:"}] * 4
    assert texts[4]["error"] == "call_budget_exceeded"
    _, again, _ = await rpc(pair, pair.one, "tools/call", {"name": "echo", "arguments": {}}, session)
    assert again["result"]["isError"] is True


async def test_delete_on_one_replica_ends_the_session_on_the_other(pair: Pair) -> None:
    """DELETE answered by replica one makes replica two answer 404 for that session."""
    session = await initialize(pair, pair.one)
    assert (await rpc(pair, pair.two, "ping", session=session))[0] == 200
    async with pair.http.delete(pair.url(pair.one), headers={"Mcp-Session-Id": session}) as resp:
        assert resp.status == 200
    status, reply, _ = await rpc(pair, pair.two, "ping", session=session)
    assert status == 404
    assert reply["error"]["code"] == -32600
    assert (await rpc(pair, pair.one, "ping", session=session))[0] == 404


async def test_logging_level_set_on_one_replica_applies_on_the_other(pair: Pair) -> None:
    """setLevel via replica one makes replica two stream the call's log notifications."""
    pair.stack.toolbox.release.set()
    session = await initialize(pair, pair.one)
    call = {"name": "slow", "arguments": {}}
    _, plain, _ = await rpc(pair, pair.two, "tools/call", call, session)
    assert plain["result"]["content"][0]["text"] == "slow done"  # no level yet: plain JSON
    assert (await rpc(pair, pair.one, "logging/setLevel", {"level": "info"}, session))[0] == 200
    status, stream, headers = await rpc(pair, pair.two, "tools/call", call, session)
    assert status == 200
    assert str(headers["Content-Type"]).startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
    logs = [e["params"] for e in events if e.get("method") == "notifications/message"]
    assert logs == [{"level": "info", "logger": "gumloop", "data": {"msg": "working"}}]
    assert events[-1]["result"]["content"][0]["text"] == "slow done"


async def _redis_dump(url: str) -> str:
    """Every key and value under the façade prefix, as one text."""
    client = aioredis.from_url(url, decode_responses=True)
    parts: list[str] = []
    try:
        async for key in client.scan_iter(match=f"{PREFIX}*"):
            parts.append(key)
            kind = await client.type(key)
            if kind == "string":
                parts.append(str(await client.get(key)))
            elif kind == "hash":
                parts.append(json.dumps(await client.hgetall(key)))
            elif kind == "zset":
                parts.append(json.dumps(await client.zrange(key, 0, -1)))
    finally:
        await client.aclose()
    return "\n".join(parts)


async def test_no_token_or_session_signature_is_stored_in_redis(pair: Pair) -> None:
    """Keys and values hold server ids and nonces, never the URL token or the session id's signature."""
    pair.stack.toolbox.release.set()
    session = await initialize(pair, pair.one, TASK_CAPS)
    await rpc(pair, pair.one, "tools/call", {"name": "echo", "arguments": {}}, session)
    task = {"name": "slow", "arguments": {}, "task": {}}
    _, created, _ = await rpc(pair, pair.two, "tools/call", task, session)
    await rpc(pair, pair.one, "tasks/result", {"taskId": created["result"]["task"]["taskId"]}, session)
    await rpc(pair, pair.two, "logging/setLevel", {"level": "debug"}, session)
    async with pair.http.delete(pair.url(pair.two), headers={"Mcp-Session-Id": session}) as resp:
        assert resp.status == 200
    dump = await _redis_dump(pair.redis_url)
    _, payload, signature = session.split(".")
    nonce = json.loads(base64.urlsafe_b64decode(payload + "==="))["n"]
    assert f"{PREFIX}session:{nonce}" in dump
    assert f"{PREFIX}budget:mcp_1" in dump
    assert "slow done" in dump  # the task's result is there, as it must be
    for secret in (
        pair.stack.token,
        pair.stack.token[8:30],
        signature,
        payload,
        "test-secret-shared-by-replicas",
    ):
        assert secret not in dump


async def test_task_started_on_one_replica_is_followed_from_the_other(pair: Pair) -> None:
    """tasks/get, tasks/list and a waiting tasks/result on replica two follow a task running on one."""
    session = await initialize(pair, pair.one, TASK_CAPS)
    call = {"name": "slow", "arguments": {}, "task": {"ttl": 60_000}}
    _, created, _ = await rpc(pair, pair.one, "tools/call", call, session)
    task_id = created["result"]["task"]["taskId"]
    await asyncio.wait_for(pair.stack.toolbox.started.wait(), 5)
    _, got, _ = await rpc(pair, pair.two, "tasks/get", {"taskId": task_id}, session)
    assert (got["result"]["taskId"], got["result"]["status"]) == (task_id, "working")
    _, listed, _ = await rpc(pair, pair.two, "tasks/list", {}, session)
    assert [t["taskId"] for t in listed["result"]["tasks"]] == [task_id]
    waiting = asyncio.create_task(rpc(pair, pair.two, "tasks/result", {"taskId": task_id}, session))
    done_early, _ = await asyncio.wait({waiting}, timeout=0.3)
    assert not done_early  # the reader waits for the task rather than answering "working"
    pair.stack.toolbox.release.set()
    _, result, _ = await asyncio.wait_for(waiting, 10)
    assert result["result"]["content"][0]["text"] == "slow done"
    assert result["result"]["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task_id}
    _, done, _ = await rpc(pair, pair.two, "tasks/get", {"taskId": task_id}, session)
    assert done["result"]["status"] == "completed"
    assert [name for name, _ in pair.stack.toolbox.calls] == ["slow"]  # ran once, on replica one


async def test_task_is_cancelled_from_the_other_replica(pair: Pair) -> None:
    """tasks/cancel on replica two reaches the runner on replica one."""
    session = await initialize(pair, pair.one, TASK_CAPS)
    _, created, _ = await rpc(
        pair, pair.one, "tools/call", {"name": "slow", "arguments": {}, "task": {}}, session
    )
    task_id = created["result"]["task"]["taskId"]
    await asyncio.wait_for(pair.stack.toolbox.started.wait(), 5)
    _, cancelled, _ = await rpc(pair, pair.two, "tasks/cancel", {"taskId": task_id}, session)
    assert cancelled["result"]["status"] == "cancelled"
    assert cancelled["result"]["statusMessage"] == "Cancelled by the client"
    assert pair.stack.toolbox.cancelled.is_set()
    _, again, _ = await rpc(pair, pair.one, "tasks/cancel", {"taskId": task_id}, session)
    assert again["error"]["code"] == -32602


async def test_another_servers_task_looks_unknown_on_every_replica(pair: Pair) -> None:
    """A task of mcp_1 is -32602 for mcp_2's session, whichever replica answers."""
    pair.stack.toolbox.release.set()
    session = await initialize(pair, pair.one, TASK_CAPS)
    _, created, _ = await rpc(
        pair, pair.one, "tools/call", {"name": "echo", "arguments": {}, "task": {}}, session
    )
    task_id = created["result"]["task"]["taskId"]
    other_token = pair.stack.tokens.add_server("mcp_2")
    other = Pair(pair.stack, pair.one, pair.two, pair.http, pair.redis_url)
    other.stack = Stack(
        pair.stack.server,
        pair.stack.tokens,
        pair.stack.toolbox,
        other_token,
        pair.stack.settings,
        pair.stack.make,
    )
    other_session = await initialize(other, other.two, TASK_CAPS)
    for replica in (pair.one, pair.two):
        _, reply, _ = await rpc(other, replica, "tasks/get", {"taskId": task_id}, other_session)
        assert reply["error"]["code"] == -32602
        _, listed, _ = await rpc(other, replica, "tasks/list", {}, other_session)
        assert listed["result"]["tasks"] == []


async def test_a_task_whose_replica_died_is_reported_failed_not_awaited_forever(pair: Pair) -> None:
    """When the owner's heartbeat is gone, readers on another replica get a failed task, not a hang."""
    session = await initialize(pair, pair.one, TASK_CAPS)
    _, created, _ = await rpc(
        pair, pair.one, "tools/call", {"name": "slow", "arguments": {}, "task": {}}, session
    )
    task_id = created["result"]["task"]["taskId"]
    await asyncio.wait_for(pair.stack.toolbox.started.wait(), 5)
    await pair.one.state.close()  # replica one stops heartbeating and listening, as if it died
    _, result, _ = await asyncio.wait_for(
        rpc(pair, pair.two, "tasks/result", {"taskId": task_id}, session), 10
    )
    assert result["error"]["code"] == -32603
    assert result["error"]["message"] == "The replica running this task stopped before it finished"
    _, got, _ = await rpc(pair, pair.two, "tasks/get", {"taskId": task_id}, session)
    assert got["result"]["status"] == "failed"
    assert got["result"]["statusMessage"] == "The replica running this task stopped before it finished"


async def _next_event(stream: aiohttp.StreamReader) -> tuple[str, str]:
    """The next SSE event (skipping keepalive comments): (event name, data)."""
    while True:
        raw = (await asyncio.wait_for(stream.readuntil(b"\n\n"), 10)).decode()
        lines = [line for line in raw.splitlines() if line and not line.startswith(":")]
        if lines:
            fields = dict(line.split(": ", 1) for line in lines)
            return fields.get("event", "message"), fields.get("data", "")


async def test_legacy_sse_stream_on_one_replica_gets_answers_to_posts_sent_to_the_other(pair: Pair) -> None:
    """POSTs to replica two for a stream held by replica one are relayed and answered on the stream."""
    base_two = f"http://127.0.0.1:{pair.two.public_port}"
    async with pair.http.get(f"{pair.url(pair.one)}/sse") as stream:
        event, endpoint = await _next_event(stream.content)
        assert event == "endpoint"

        async def post(body: dict[str, Any], base: str = base_two, path: str = endpoint) -> int:
            async with pair.http.post(f"{base}{path}", json=body) as resp:
                return resp.status

        init = {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        }
        assert await post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}) == 202
        event, data = await _next_event(stream.content)
        assert (event, json.loads(data)["result"]["protocolVersion"]) == ("message", "2024-11-05")
        assert await post({"jsonrpc": "2.0", "method": "notifications/initialized"}) == 202
        call = {"name": "echo", "arguments": {"text": "relayed"}}
        assert await post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call}) == 202
        _, data = await _next_event(stream.content)
        reply = json.loads(data)
        assert (reply["id"], reply["result"]["structuredContent"]) == (2, {"echo": "mcp_1:relayed"})
        # Straight to replica one still works too.
        assert (
            await post(
                {"jsonrpc": "2.0", "id": 3, "method": "ping"}, f"http://127.0.0.1:{pair.one.public_port}"
            )
            == 202
        )
        assert json.loads((await _next_event(stream.content))[1]) == {"jsonrpc": "2.0", "id": 3, "result": {}}
        # Unknown stream, or the stream of another server's token: 404 as for a local stream.
        ping = {"jsonrpc": "2.0", "id": 4, "method": "ping"}
        assert await post(ping, path=endpoint.split("session_id=")[0] + "session_id=nope") == 404
        other_token = pair.stack.tokens.add_server("mcp_2")
        assert await post(ping, path=endpoint.replace(pair.stack.token, other_token)) == 404
        async with pair.http.post(f"{base_two}{endpoint}", data=b"{broken") as resp:
            assert resp.status == 400

    # The stream is closed: its claim is released, so replica two answers 404.
    async def released() -> bool:
        return await pair.two.state.stream_owner(endpoint.split("session_id=")[1]) is None

    deadline = asyncio.get_running_loop().time() + 5
    while not await released():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    async with pair.http.post(
        f"{base_two}{endpoint}", json={"jsonrpc": "2.0", "id": 5, "method": "ping"}
    ) as resp:
        assert resp.status == 404


async def test_legacy_post_for_a_stream_whose_owner_is_gone_is_404(pair: Pair) -> None:
    """A stream claim naming a replica that no longer listens gets 404, not a silent 202."""
    client = aioredis.from_url(pair.redis_url)
    try:
        await client.set(
            f"{PREFIX}sse:ghost-stream", json.dumps({"server": "mcp_1", "replica": "gone"}), px=60_000
        )
    finally:
        await client.aclose()
    url = f"{pair.url(pair.two)}/messages?session_id=ghost-stream"
    async with pair.http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}) as resp:
        assert resp.status == 404


async def _post_to(pair: Pair, replica: FacadeServer, body: dict[str, Any], session: str) -> int:
    headers = {**BOTH, "Mcp-Session-Id": session}
    async with pair.http.post(pair.url(replica), json=body, headers=headers) as resp:
        return resp.status


async def test_an_elicitation_answer_posted_to_the_other_replica_reaches_the_call(pair: Pair) -> None:
    """No session affinity: the call runs on replica one and asks on its stream; the client's answer
    lands on replica two, which relays it to one (the request id names it), and the call finishes."""
    session = await initialize(pair, pair.one, {"elicitation": {}})
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "ask", "arguments": {}}}
    headers = {**BOTH, "Mcp-Session-Id": session}
    async with pair.http.post(pair.url(pair.one), json=call, headers=headers) as stream:
        assert stream.content_type == "text/event-stream"
        _, data = await _next_event(stream.content)
        asked = json.loads(data)
        assert asked["method"] == "elicitation/create" and asked["params"]["message"] == "Your name?"
        assert pair.one.state.replica_id in asked["id"]
        answer = {
            "jsonrpc": "2.0",
            "id": asked["id"],
            "result": {"action": "accept", "content": {"name": "Bo"}},
        }
        assert await _post_to(pair, pair.two, answer, session) == 202
        _, data = await _next_event(stream.content)
        reply = json.loads(data)
    assert reply["id"] == 7
    assert reply["result"]["content"][0]["text"] == "hello Bo, asked on the stream"
    # A second answer to the same request finds nothing waiting on either replica: accepted, dropped.
    assert await _post_to(pair, pair.two, answer, session) == 202
    assert pair.one.facade.protocol.outgoing.pending == 0


async def test_a_cancellation_posted_to_the_other_replica_cancels_the_running_call(pair: Pair) -> None:
    """notifications/cancelled for a call replica one runs, POSTed to replica two, cancels it."""
    session = await initialize(pair, pair.one)
    call = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "slow", "arguments": {}}}
    running = asyncio.create_task(_post_to(pair, pair.one, call, session))
    await asyncio.wait_for(pair.stack.toolbox.started.wait(), 5)
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 8}}
    assert await _post_to(pair, pair.two, cancel, session) == 202
    await asyncio.wait_for(pair.stack.toolbox.cancelled.wait(), 5)
    await asyncio.wait_for(running, 5)
    assert not pair.stack.toolbox.release.is_set()  # it ended by the cancellation, not by finishing
