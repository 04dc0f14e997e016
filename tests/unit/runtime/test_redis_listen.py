"""listen_forever against a real redis-server behind a loopback TCP relay that can fail quietly.

The relay forwards bytes both ways; `black_hole()` makes it swallow everything without closing any
connection (a peer, NAT or balancer that stops forwarding), `reset()` aborts its connections while
Redis stays up. Intervals are shortened for speed; waits are generous bounds, not timings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
import redis.asyncio as aioredis

from gumloop_mcp.runtime.redis_listen import SubscriptionLost, listen_forever

CHANNEL = "test:listen"
BOUND_S = 10.0  # generous upper bound for anything to happen

T = TypeVar("T")


@dataclass(eq=False)
class _Link:
    """One relayed client connection and its upstream; `dead` links swallow bytes forever."""

    dead: bool
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def abort(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


class Relay:
    """A loopback TCP relay in front of a Redis server."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._forwarding = True
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.accepted = 0
        # Pub/sub pongs relayed to the client, and an event set at each.
        self.pongs = 0
        self._pong = asyncio.Event()

    @classmethod
    async def start(cls, target_port: int) -> Relay:
        relay = cls(target_port)
        relay._server = await asyncio.start_server(relay._accept, "127.0.0.1", 0)
        relay.port = relay._server.sockets[0].getsockname()[1]
        return relay

    def black_hole(self) -> None:
        """Stop forwarding: current and new connections stay open but carry nothing, ever."""
        self._forwarding = False
        for link in self._links:
            link.dead = True

    def forward(self) -> None:
        """Forward again on connections made from now on (black-holed ones stay dead)."""
        self._forwarding = True

    def reset(self) -> None:
        """Abort every current connection (RST), as a restarting peer would."""
        for link in list(self._links):
            link.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.reset()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(dead=not self._forwarding, writers=[writer, up_writer])
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, link), self._pump(up_reader, writer, link, self._count_pongs)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._links.discard(link)
            link.abort()

    def _count_pongs(self, data: bytes) -> None:
        # A PING on a subscribed connection is answered `+PONG` in RESP3, `*2 $4 pong $0 ""` in RESP2.
        found = data.count(b"+PONG\r\n") + data.count(b"$4\r\npong\r\n")
        if found:
            self.pongs += found
            self._pong.set()

    async def pongs_relayed(self, count: int) -> None:
        """Return once `count` pongs in all have been relayed to the client."""
        while self.pongs < count:
            self._pong.clear()
            await self._pong.wait()

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        seen: Callable[[bytes], None] | None = None,
    ) -> None:
        while data := await reader.read(65536):
            if not link.dead:
                writer.write(data)
                await writer.drain()
                if seen is not None:
                    seen(data)
        link.abort()


@dataclass
class Listener:
    """What listen_forever reported, as queues the test awaits."""

    live: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    lost: asyncio.Queue[Exception] = field(default_factory=asyncio.Queue)
    messages: asyncio.Queue[bytes | str] = field(default_factory=asyncio.Queue)


async def next_of(queue: asyncio.Queue[T]) -> T:
    """The queue's next item, within the generous bound."""
    return await asyncio.wait_for(queue.get(), BOUND_S)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.fixture
async def relay(redis_url: str) -> AsyncIterator[Relay]:
    started = await Relay.start(_port(redis_url))
    yield started
    await started.close()


@pytest.fixture
async def publisher(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client straight to Redis (not through the relay)."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def listening(relay: Relay) -> AsyncIterator[Listener]:
    """listen_forever through the relay, with short intervals; stopped at the end."""
    client = aioredis.Redis(host="127.0.0.1", port=relay.port, socket_connect_timeout=2.0, socket_timeout=5.0)
    seen = Listener()
    task = asyncio.create_task(
        listen_forever(
            client,
            [CHANNEL],
            seen.messages.put_nowait,
            on_live=lambda: seen.live.put_nowait(None),
            on_lost=seen.lost.put_nowait,
            reconnect_delay_s=0.05,
            ping_interval_s=0.2,
            liveness_timeout_s=0.5,
        )
    )
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()


async def _delivered(seen: Listener, publisher: aioredis.Redis, payload: bytes) -> None:
    """Publish once the subscription is live and see exactly that payload arrive."""
    assert await publisher.publish(CHANNEL, payload) >= 1
    assert await next_of(seen.messages) == payload


async def test_a_connection_that_stops_forwarding_is_reported_lost_and_resubscribed(
    relay: Relay, listening: Listener, publisher: aioredis.Redis
) -> None:
    """Black-holed (no reset, reads just return nothing): on_lost is reported; once the relay forwards
    again the loop is live on a new connection and a published message arrives."""
    await next_of(listening.live)
    await _delivered(listening, publisher, b"before")
    relay.black_hole()
    lost = await next_of(listening.lost)
    assert isinstance(lost, SubscriptionLost)
    accepted = relay.accepted
    relay.forward()
    await next_of(listening.live)
    assert relay.accepted > accepted  # resubscribed on a new connection
    await _delivered(listening, publisher, b"after")


async def test_a_reset_connection_is_reported_lost_even_when_redis_py_reconnects_by_itself(
    relay: Relay, listening: Listener, publisher: aioredis.Redis
) -> None:
    """The relay aborts the connection while Redis stays up: whatever redis-py's retry does, the gap
    is reported (on_lost) before the loop is live again, and messages flow afterwards."""
    await next_of(listening.live)
    await _delivered(listening, publisher, b"before")
    relay.reset()
    await next_of(listening.lost)
    await next_of(listening.live)
    await _delivered(listening, publisher, b"after")


async def test_a_quiet_healthy_channel_is_not_reported_lost(
    relay: Relay, listening: Listener, publisher: aioredis.Redis
) -> None:
    """Many ping intervals without any message keep the subscription live: pongs count as answers."""
    await next_of(listening.live)
    # Ten answered pings: ten ping intervals, four liveness timeouts (waited on, not slept).
    await asyncio.wait_for(relay.pongs_relayed(relay.pongs + 10), BOUND_S)
    assert listening.lost.empty()
    assert listening.live.empty()
    await _delivered(listening, publisher, b"still here")
