"""Resource subscriptions on two façade replicas sharing Redis, with no session affinity: the GET
stream on one replica, subscribe / unsubscribe / DELETE on the other (protocol/stream_relay.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from services.mcp_facade.server import FacadeServer
from tests.fakes.operation_toolbox import ALL_OPS, FakeToolbox

from .conftest import Stack

BOTH = {"Accept": "application/json, text/event-stream"}
URI = "gumloop://sessions/s1"


@dataclass
class Pair:
    stack: Stack
    one: FacadeServer
    two: FacadeServer
    tools: FakeToolbox
    http: aiohttp.ClientSession
    redis_url: str

    def url(self, replica: FacadeServer) -> str:
        return f"http://127.0.0.1:{replica.public_port}/mcp/{self.stack.token}"

    async def rpc(self, replica: FacadeServer, session: str, method: str, params: dict[str, Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        headers = {**BOTH, "Mcp-Session-Id": session}
        async with self.http.post(self.url(replica), json=body, headers=headers) as resp:
            assert resp.status == 200
            return await resp.json()

    def watches(self, replica: FacadeServer) -> int:
        features = replica.facade.protocol.features
        assert features is not None
        return features.subscriptions.active


@pytest.fixture
async def pair(stack: Stack, clean_redis_url: str) -> AsyncIterator[Pair]:
    tools = FakeToolbox(ALL_OPS)
    tools.session_state = "processing"
    settings = {"store": "redis", "redis_url": clean_redis_url, "resource_poll_interval_s": 0.05}
    one = await stack.make(tools=tools, **settings)
    two = await stack.make(tools=tools, **settings)
    async with aiohttp.ClientSession() as http:
        yield Pair(stack, one, two, tools, http, clean_redis_url)


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _initialize(pair: Pair) -> str:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}}
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    async with pair.http.post(pair.url(pair.one), json=body, headers=BOTH) as resp:
        assert resp.status == 200
        return str(resp.headers["Mcp-Session-Id"])


async def _next_message(stream: aiohttp.StreamReader) -> dict[str, Any]:
    while True:
        raw = (await asyncio.wait_for(stream.readuntil(b"\n\n"), 10)).decode()
        data = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
        if data:
            return dict(json.loads(data[0]))


async def test_an_update_seen_on_one_replica_reaches_the_stream_held_by_the_other(pair: Pair) -> None:
    """Subscribed on replica two, streamed from replica one: the change two's watch sees arrives on
    one's GET stream; unsubscribing on one ends the watch two runs."""
    session = await _initialize(pair)
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session}
    async with pair.http.get(pair.url(pair.one), headers=headers) as stream:
        assert stream.status == 200
        assert await pair.rpc(pair.two, session, "resources/subscribe", {"uri": URI}) == {
            "jsonrpc": "2.0",
            "id": 1,
            "result": {},
        }
        assert (pair.watches(pair.one), pair.watches(pair.two)) == (0, 1)
        pair.tools.session_state = "completed"
        note = await _next_message(stream.content)
        assert note == {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": URI}}
        await pair.rpc(pair.one, session, "resources/unsubscribe", {"uri": URI})
        await _until(lambda: pair.watches(pair.two) == 0)


async def test_a_subscribe_takes_the_watch_over_and_delete_ends_it_everywhere(pair: Pair) -> None:
    """The newest replica to take a subscribe runs the one watch; a DELETE on the other ends it."""
    session = await _initialize(pair)
    await pair.rpc(pair.two, session, "resources/subscribe", {"uri": URI})
    assert pair.watches(pair.two) == 1
    await pair.rpc(pair.one, session, "resources/subscribe", {"uri": URI})
    await _until(lambda: (pair.watches(pair.one), pair.watches(pair.two)) == (1, 0))
    headers = {"Mcp-Session-Id": session}
    async with pair.http.delete(pair.url(pair.two), headers=headers) as resp:
        assert resp.status == 200
    await _until(lambda: pair.watches(pair.one) == 0)


async def test_the_stream_claim_is_released_when_the_stream_closes(pair: Pair) -> None:
    """While one's GET stream is open, the shared state names one as its holder; then nobody."""
    session = await _initialize(pair)
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session}

    async def holder() -> str | None:
        for key in await _claims(pair):
            owner = await pair.two.state.stream_owner(key)
            if owner is not None:
                return owner[0]
        return None

    async with pair.http.get(pair.url(pair.one), headers=headers) as stream:
        assert stream.status == 200
        deadline = time.monotonic() + 5
        while await holder() != pair.one.state.replica_id:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        # The claim is not an HTTP+SSE stream: a legacy POST naming it is unknown, not relayed.
        (claim,) = await _claims(pair)
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with pair.http.post(f"{pair.url(pair.two)}/messages?session_id={claim}", json=ping) as resp:
            assert resp.status == 404
    deadline = time.monotonic() + 5
    while await holder() is not None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def _claims(pair: Pair) -> list[str]:
    """The GET-stream claims in Redis, as stream ids (`get:<session nonce>`)."""
    client = aioredis.from_url(pair.redis_url)
    try:
        keys = [k.decode() async for k in client.scan_iter(match="*sse:get:*")]
    finally:
        await client.aclose()
    return [k.split("sse:", 1)[1] for k in keys]
