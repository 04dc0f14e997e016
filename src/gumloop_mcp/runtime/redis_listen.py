"""A Redis pub/sub subscription that outlives Redis restarts: the one loop every service uses.

The token service relays revocation events from its channel; the façade relays cancellations,
relayed POSTs and task-ended broadcasts. Both need the same thing: subscribe, hand every message to
a callback, and when the connection breaks, say so, wait a moment and subscribe again (pub/sub does
not buffer, so the caller decides what a gap means: the token service marks its watches not live).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import NoReturn

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["listen_forever"]


async def listen_forever(
    redis: aioredis.Redis,
    channels: Sequence[str],
    on_message: Callable[[bytes | str], None],
    *,
    on_live: Callable[[], None],
    on_lost: Callable[[Exception], None],
    reconnect_delay_s: float = 0.5,
) -> NoReturn:
    """Relay every message on `channels` to `on_message` until cancelled.

    `on_live` runs each time the subscription is confirmed (first time and after a reconnect),
    `on_lost` each time it breaks (Redis down, restarted, or the connection dropped).
    """
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(*channels)
            on_live()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    on_message(message["data"])
        except (RedisError, OSError) as exc:
            on_lost(exc)
            await asyncio.sleep(reconnect_delay_s)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
