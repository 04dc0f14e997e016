"""A Redis pub/sub subscription that outlives Redis restarts: the one loop every service uses.

The token service relays revocation events from its channel; the façade relays cancellations,
relayed POSTs and task-ended broadcasts. Both need the same thing: subscribe, hand every message to
a callback, and when the connection breaks, say so, wait a moment and subscribe again (pub/sub does
not buffer, so the caller decides what a gap means: the token service marks its watches not live).

A connection can also break without telling: a peer, NAT or load balancer that stops forwarding
without a reset leaves reads returning nothing forever, which looks exactly like a quiet channel.
So the loop pings the server every `ping_interval_s` and counts the connection lost when nothing at
all (pong or message) came back within `liveness_timeout_s` of a ping. redis-py may also reconnect
and resubscribe by itself after an error (its retry policy); messages published in between are lost,
so a subscription confirmed again while live counts as lost too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["SubscriptionLost", "listen_forever"]


class SubscriptionLost(Exception):
    """The subscription stopped working without an error from the connection."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _subscribe(pubsub: Any, channels: Sequence[str], timeout_s: float) -> list[Any]:
    """Subscribe and wait until the server confirmed every channel, all within `timeout_s` (the
    connection, its handshake included, may be the silent one); returns messages that came meanwhile."""
    waiting = set(channels)
    early: list[Any] = []
    try:
        async with asyncio.timeout(timeout_s):
            await pubsub.subscribe(*channels)
            while waiting:
                message = await pubsub.get_message(timeout=timeout_s)
                if message is None:
                    continue
                if message.get("type") == "subscribe":
                    waiting.discard(_text(message.get("channel")))
                elif message.get("type") == "message":
                    early.append(message["data"])
    except TimeoutError as exc:
        raise SubscriptionLost(f"subscription not confirmed within {timeout_s:g} s") from exc
    return early


async def listen_forever(
    redis: aioredis.Redis,
    channels: Sequence[str],
    on_message: Callable[[bytes | str], None],
    *,
    on_live: Callable[[], None],
    on_lost: Callable[[Exception], None],
    reconnect_delay_s: float = 0.5,
    ping_interval_s: float = 2.0,
    liveness_timeout_s: float = 3.0,
) -> NoReturn:
    """Relay every message on `channels` to `on_message` until cancelled.

    `on_live` runs each time the server confirmed the subscription (first time and after a
    reconnect), `on_lost` each time it breaks: Redis down or restarted, the connection dropped, or
    the connection silent (no answer to a ping within `liveness_timeout_s`; pings go every
    `ping_interval_s`). After a loss the loop subscribes again on a new connection.
    """
    loop = asyncio.get_running_loop()
    while True:
        pubsub = redis.pubsub()
        try:
            early = await _subscribe(pubsub, channels, liveness_timeout_s)
            on_live()
            for data in early:
                on_message(data)
            next_ping = loop.time() + ping_interval_s
            unanswered_since: float | None = None  # when the oldest ping not followed by any reply went
            while True:
                if loop.time() >= next_ping:
                    await pubsub.ping()
                    if unanswered_since is None:
                        unanswered_since = loop.time()
                    next_ping = loop.time() + ping_interval_s
                wake = next_ping
                if unanswered_since is not None:
                    wake = min(wake, unanswered_since + liveness_timeout_s)
                message = await pubsub.get_message(timeout=max(wake - loop.time(), 0.0))
                if message is None:
                    # Judged only after a read found nothing, so a loop that was merely busy past the
                    # deadline still picks up a pong waiting in the socket.
                    if unanswered_since is not None and loop.time() - unanswered_since >= liveness_timeout_s:
                        silent = f"no answer from redis within {liveness_timeout_s:g} s of a ping"
                        raise SubscriptionLost(silent)
                    continue
                unanswered_since = None  # anything read proves the connection forwards
                kind = message.get("type")
                if kind == "message":
                    on_message(message["data"])
                elif kind == "subscribe":
                    # redis-py reconnected and resubscribed by itself: messages in between are gone.
                    raise SubscriptionLost("the connection was re-established; messages may have been missed")
        except (RedisError, OSError, SubscriptionLost) as exc:
            on_lost(exc)
            await asyncio.sleep(reconnect_delay_s)
        finally:
            with contextlib.suppress(Exception):
                # Bounded: closing must not wait on a connection that stopped forwarding.
                await asyncio.wait_for(pubsub.aclose(), liveness_timeout_s)
