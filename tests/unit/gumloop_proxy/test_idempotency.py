"""Idempotency keys: replay, conflicts, expiry, concurrency, failures."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.gumloop_proxy.errors import IdempotencyKeyReused, UpstreamTimeout
from services.gumloop_proxy.idempotency import MemoryIdempotencyStore, fingerprint


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_same_key_and_arguments_replay_without_calling_again() -> None:
    """The second call returns the stored answer and says it was replayed."""
    calls = 0

    async def call() -> bytes:
        nonlocal calls
        calls += 1
        return b"answer"

    cache = MemoryIdempotencyStore(60)
    digest = fingerprint("op", {"a": 1, "b": 2})
    assert await cache.run("acct", "k", digest, call) == (b"answer", False)
    assert await cache.run("acct", "k", fingerprint("op", {"b": 2, "a": 1}), call) == (b"answer", True)
    assert calls == 1


async def test_a_key_reused_with_other_arguments_is_refused() -> None:
    """Different arguments or operation under the same key is a conflict, not a silent replay."""
    cache = MemoryIdempotencyStore(60)

    async def call() -> bytes:
        return b"x"

    await cache.run("acct", "k", fingerprint("op", {"a": 1}), call)
    with pytest.raises(IdempotencyKeyReused, match="different operation or arguments"):
        await cache.run("acct", "k", fingerprint("op", {"a": 2}), call)
    # Keys are per account.
    assert await cache.run("other", "k", fingerprint("op", {"a": 2}), call) == (b"x", False)


async def test_keys_expire_after_the_ttl_and_the_cache_is_bounded() -> None:
    """After the TTL the key is free again; old entries are evicted beyond max_entries."""
    clock = Clock()
    cache = MemoryIdempotencyStore(10, max_entries=2, clock=clock)

    async def call() -> bytes:
        return b"x"

    await cache.run("a", "k", "d1", call)
    clock.now = 11
    assert await cache.run("a", "k", "d2", call) == (b"x", False)
    await cache.run("a", "k2", "d", call)
    await cache.run("a", "k3", "d", call)
    assert len(cache) == 2


async def test_concurrent_calls_with_one_key_go_upstream_once() -> None:
    """A retry racing the first call waits for it instead of repeating the work."""
    release = asyncio.Event()
    calls = 0

    async def call() -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()
        return b"once"

    cache = MemoryIdempotencyStore(60)
    first = asyncio.create_task(cache.run("a", "k", "d", call))
    second = asyncio.create_task(cache.run("a", "k", "d", call))
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.wait_for(first, 5) == (b"once", False)
    assert await asyncio.wait_for(second, 5) == (b"once", True)
    assert calls == 1


async def test_a_failed_call_frees_the_key_for_a_retry() -> None:
    """Errors are not cached."""
    cache = MemoryIdempotencyStore(60)

    async def fail() -> bytes:
        raise RuntimeError("upstream down")

    async def ok() -> bytes:
        return b"ok"

    with pytest.raises(RuntimeError):
        await cache.run("a", "k", "d", fail)
    assert await cache.run("a", "k", "d", ok) == (b"ok", False)


async def test_a_waiter_goes_upstream_itself_when_the_first_call_fails() -> None:
    """A concurrent retry does not inherit the first call's failure: the freed key lets it run."""
    release = asyncio.Event()
    calls = 0

    async def fail_later() -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()
        raise RuntimeError("upstream down")

    async def ok() -> bytes:
        nonlocal calls
        calls += 1
        return b"ok"

    cache = MemoryIdempotencyStore(60)
    first = asyncio.create_task(cache.run("a", "k", "d", fail_later))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.run("a", "k", "d", ok))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(first, 5)
    assert await asyncio.wait_for(second, 5) == (b"ok", False)
    assert calls == 2


async def test_a_waiter_gives_up_at_its_deadline_without_cancelling_the_first_call() -> None:
    """The wait is bounded by the caller's deadline; the first call still completes and is stored."""
    release = asyncio.Event()

    async def slow() -> bytes:
        await release.wait()
        return b"slow"

    cache = MemoryIdempotencyStore(60)
    first = asyncio.create_task(cache.run("a", "k", "d", slow))
    await asyncio.sleep(0)
    with pytest.raises(UpstreamTimeout, match="idempotency key was still running"):
        await cache.run("a", "k", "d", slow, deadline=time.monotonic() + 0.01)
    release.set()
    assert await asyncio.wait_for(first, 5) == (b"slow", False)
    assert await cache.run("a", "k", "d", slow) == (b"slow", True)
