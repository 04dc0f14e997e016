"""In-process fan-out of revocation events to WatchRevocations subscribers.

The store feeds the hub: the SQLite store publishes its own changes, the Redis store relays what
arrives on its pub/sub channel (so watchers of every replica hear every replica's changes). Each
subscriber gets its own bounded queue; a subscriber that cannot keep up, or every subscriber when the
feed itself broke (Redis connection lost), is closed with a reason so its stream ends with
UNAVAILABLE and the façade re-watches and drops its caches rather than missing a revocation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Final

from .store import RevocationEvent

__all__ = ["RevocationHub", "Subscription", "SubscriptionClosed"]

logger = logging.getLogger(__name__)

# Revocations are rare and tiny; a watcher this far behind is stuck, and closing it forces a resync.
_QUEUE_LIMIT: Final = 10_000


class SubscriptionClosed(Exception):
    """The subscription ended before its consumer stopped reading (overflow, feed lost, shutdown)."""


class Subscription:
    """One subscriber's queue of events."""

    def __init__(self, hub: RevocationHub) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[RevocationEvent | SubscriptionClosed] = asyncio.Queue(_QUEUE_LIMIT + 1)

    def _offer(self, item: RevocationEvent | SubscriptionClosed) -> bool:
        if self._queue.qsize() >= _QUEUE_LIMIT and not isinstance(item, SubscriptionClosed):
            self._queue.put_nowait(SubscriptionClosed("watcher fell too far behind; re-watch"))
            return False
        self._queue.put_nowait(item)
        return not isinstance(item, SubscriptionClosed)

    async def events(self) -> AsyncIterator[RevocationEvent]:
        """Yield events until the subscription is closed (raises SubscriptionClosed)."""
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, SubscriptionClosed):
                    raise item
                yield item
        finally:
            self._hub.unsubscribe(self)


class RevocationHub:
    """Fans every published event out to all current subscribers."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self._live = True

    @property
    def live(self) -> bool:
        """False while the feed (Redis pub/sub) is down: new watches would miss events."""
        return self._live

    def set_live(self, live: bool) -> None:
        """Record whether the feed works; losing it ends every subscription so watchers resync."""
        was_live, self._live = self._live, live
        if was_live and not live:
            self.close_all("revocation feed lost; re-watch and drop cached resolutions")

    @property
    def subscriber_count(self) -> int:
        """How many watchers are subscribed right now."""
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        """A new subscription; events published from now on reach it."""
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to `subscription` (idempotent)."""
        self._subscribers.discard(subscription)

    def publish(self, event: RevocationEvent) -> None:
        """Deliver `event` to every subscriber without blocking."""
        for subscription in list(self._subscribers):
            if not subscription._offer(event):
                logger.warning("closing a revocation watcher that fell behind")
                self._subscribers.discard(subscription)

    def close_all(self, reason: str) -> None:
        """End every subscription (their streams fail with `reason`)."""
        for subscription in list(self._subscribers):
            subscription._offer(SubscriptionClosed(reason))
        self._subscribers.clear()
