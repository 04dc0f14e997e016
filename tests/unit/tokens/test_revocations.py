"""Unit tests of the in-process revocation hub."""

from __future__ import annotations

import asyncio

import pytest

from services.tokens.revocations import RevocationHub, SubscriptionClosed
from services.tokens.store import RevocationEvent, RevocationKind


async def test_every_subscriber_receives_every_event_in_order() -> None:
    """Two subscribers both get both events, in publication order."""
    hub = RevocationHub()
    subs = [hub.subscribe(), hub.subscribe()]
    events = [RevocationEvent(RevocationKind.DELETED, "a"), RevocationEvent(RevocationKind.UPDATED, "b")]
    for event in events:
        hub.publish(event)
    for sub in subs:
        stream = sub.events()
        assert [await anext(stream), await anext(stream)] == events
        await stream.aclose()
    assert hub.subscriber_count == 0


async def test_losing_the_feed_ends_every_subscription() -> None:
    """When the feed goes down subscribers fail with SubscriptionClosed so their clients resync."""
    hub = RevocationHub()
    stream = hub.subscribe().events()
    reader = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    hub.set_live(False)
    with pytest.raises(SubscriptionClosed, match="feed lost"):
        await asyncio.wait_for(reader, 1)
    assert hub.live is False and hub.subscriber_count == 0


async def test_a_subscriber_that_falls_behind_is_closed_not_blocking_others() -> None:
    """Publishing never blocks; an overflowing subscriber is dropped with a reason."""
    hub = RevocationHub()
    slow = hub.subscribe()
    for i in range(10_001):
        hub.publish(RevocationEvent(RevocationKind.DELETED, str(i)))
    assert hub.subscriber_count == 0
    stream = slow.events()
    with pytest.raises(SubscriptionClosed, match="behind"):
        async for _ in stream:
            pass
