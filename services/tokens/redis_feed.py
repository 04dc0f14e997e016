"""The Redis pub/sub channel that carries revocation events between token-service replicas.

Every replica publishes its changes to one channel and relays everything it hears (its own events
included) to its local `RevocationHub`, so a watcher on any replica hears every replica's changes.
While the subscription is down the hub is marked not live: open watches end with UNAVAILABLE and new
ones are refused, because events published meanwhile are lost (pub/sub does not buffer) and the
façade must drop its caches and re-watch rather than trust them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Final

import redis.asyncio as aioredis

from gumloop_mcp.runtime.redis_listen import listen_forever

from .revocations import RevocationHub
from .store import Clock, RevocationEvent, RevocationKind

__all__ = ["RevocationFeed"]

logger = logging.getLogger(__name__)

# How long start() waits for Redis before serving anyway (calls then fail with UNAVAILABLE until it is up).
_START_WAIT_S: Final = 2.0
_RECONNECT_DELAY_S: Final = 0.5


class RevocationFeed:
    """Publishes revocation events to a Redis channel and relays the channel to a hub."""

    def __init__(self, redis: aioredis.Redis, channel: str, hub: RevocationHub, clock: Clock) -> None:
        self._redis = redis
        self._channel = channel
        self._hub = hub
        self._clock = clock
        # Not live until the subscription is confirmed: a watch opened earlier could miss events.
        hub.set_live(False)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def publish(self, kind: RevocationKind, *, server_id: str = "", api_token_id: str = "") -> None:
        """Send one event to every replica (raises RedisError when Redis is down)."""
        event = {"k": int(kind), "s": server_id, "a": api_token_id, "t": self._clock()}
        await self._redis.publish(self._channel, json.dumps(event))

    async def start(self) -> None:
        """Start listening; wait briefly for the first subscription."""
        self._listener = asyncio.create_task(self._listen(), name="tokens-redis-revocations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), _START_WAIT_S)
        if not self._subscribed.is_set():
            logger.warning("redis not reachable yet; calls fail with UNAVAILABLE until it is")

    async def close(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def _listen(self) -> None:
        await listen_forever(
            self._redis,
            [self._channel],
            self._relay,
            on_live=self._live,
            on_lost=self._lost,
            reconnect_delay_s=_RECONNECT_DELAY_S,
        )

    def _live(self) -> None:
        self._hub.set_live(True)
        self._subscribed.set()

    def _lost(self, exc: Exception) -> None:
        logger.warning("revocation feed from redis lost (%s); reconnecting", exc)
        self._hub.set_live(False)

    def _relay(self, data: bytes | str) -> None:
        try:
            raw = json.loads(data)
            event = RevocationEvent(RevocationKind(raw["k"]), raw["s"], raw["a"], float(raw["t"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed revocation message")
            return
        self._hub.publish(event)
