"""protocol/stream_relay.py between two replicas' relays on a real Redis, without HTTP: what the
façade-level tests cannot time, a stream closing between its claim being read and the update
arriving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.mcp_facade.protocol.stream_relay import SessionStreams
from services.mcp_facade.resources.subscriptions import Subscriptions
from services.mcp_facade.state.state_redis import RedisState

from .test_subscriptions_replicas import _until

PREFIX = "gmcp:relaytest:"
URI = "gumloop://sessions/s1"


class Replica:
    """One replica's shared state, subscriptions and relay."""

    def __init__(self, redis_url: str) -> None:
        self.state = RedisState(redis_url, PREFIX)
        self.subscriptions = Subscriptions(interval_s=0.05)
        self.relay = SessionStreams(self.state)
        self.relay.serve(self.subscriptions)

    async def close(self) -> None:
        await self.subscriptions.close()
        await self.relay.close()
        await self.state.close()


@pytest.fixture
async def replicas(clean_redis_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    one, two = Replica(clean_redis_url), Replica(clean_redis_url)
    await one.state.start()
    await two.state.start()
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def test_an_update_whose_stream_closed_before_it_arrived_is_sent_again(
    replicas: tuple[Replica, Replica],
) -> None:
    """Replica one holds the session's stream claim but its stream is gone when two's update comes:
    one sends it back as undelivered, two keeps it pending, and the stream the client opens next on
    one gets it (without a further change)."""
    one, two = replicas
    release = one.relay.announce("c1", "s1")

    async def claimed() -> bool:
        return await two.state.stream_owner("get:c1") == (one.state.replica_id, "s1")

    await _until(claimed)
    pushes: list[dict[str, Any]] = []
    push = one.subscriptions.push

    async def recording_push(conn_key: str, note: dict[str, Any]) -> bool:
        pushes.append(note)
        return await push(conn_key, note)

    one.subscriptions.push = recording_push  # type: ignore[method-assign]
    version = ["v1"]

    async def fingerprint() -> str:
        return version[0]

    await two.subscriptions.subscribe("c1", URI, fingerprint, until=time.time() + 60, on_end=lambda: None)
    version[0] = "v2"
    await _until(lambda: len(pushes) >= 1)  # relayed to one, which had no stream for it
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    one.subscriptions.attach("c1", received.put)
    note = await asyncio.wait_for(received.get(), 5)
    assert note == {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": URI}}
    release()
