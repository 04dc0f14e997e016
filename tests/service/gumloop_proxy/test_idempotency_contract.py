"""Idempotency store contract, run against the in-memory store and a real Redis.

Replay, refusal of a reused key, failures freeing the key, concurrency (one upstream call) and
TTL expiry behave the same whichever store settings.store selects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.gumloop_proxy.errors import IdempotencyKeyReused
from services.gumloop_proxy.idempotency import IdempotencyStore, fingerprint
from services.gumloop_proxy.server import open_idempotency_store
from services.gumloop_proxy.settings import ProxySettings

DIGEST = fingerprint("start_pipeline", {"saved_item_id": "flow_1"})
OTHER = fingerprint("start_pipeline", {"saved_item_id": "flow_2"})

StoreFactory = Callable[..., IdempotencyStore]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Opens stores of the parametrized kind (sqlite settings -> memory, redis -> a real Redis)."""
    opened: list[IdempotencyStore] = []
    url = request.getfixturevalue("clean_redis_url") if request.param == "redis" else None

    def make(ttl_s: float = 60.0, lease_s: float = 10.0) -> IdempotencyStore:
        settings = ProxySettings(
            data_dir=tmp_path,
            store="redis" if url else "sqlite",
            redis_url=SecretStr(url) if url else None,
            idempotency_ttl_s=ttl_s,
            idempotency_lease_s=lease_s,
        )
        store = open_idempotency_store(settings)
        opened.append(store)
        return store

    try:
        yield make
    finally:
        for store in opened:
            await store.close()


class Upstream:
    """Counts calls; answers `answer`, or raises when `fail` is set; `latency_s` simulates a slow upstream."""

    def __init__(self, answer: bytes = b"run_1", *, latency_s: float = 0.0) -> None:
        self.answer = answer
        self.latency_s = latency_s
        self.calls = 0
        self.fail = False

    async def __call__(self) -> bytes:
        self.calls += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.fail:
            raise RuntimeError("upstream down")
        return self.answer


async def test_the_same_key_and_fingerprint_replay_the_stored_answer(make_store: StoreFactory) -> None:
    """The second call returns the first answer, marked replayed, without calling upstream."""
    store, upstream = make_store(), Upstream(b"\x00binary\xffanswer")
    assert await store.run("acct_1", "key-1", DIGEST, upstream) == (b"\x00binary\xffanswer", False)
    assert await store.run("acct_1", "key-1", DIGEST, upstream) == (b"\x00binary\xffanswer", True)
    assert upstream.calls == 1


async def test_a_key_reused_with_another_fingerprint_is_refused(make_store: StoreFactory) -> None:
    """Another fingerprint under a used key is IdempotencyKeyReused; keys are per account."""
    store, upstream = make_store(), Upstream()
    await store.run("acct_1", "key-1", DIGEST, upstream)
    with pytest.raises(IdempotencyKeyReused, match="different operation or arguments"):
        await store.run("acct_1", "key-1", OTHER, upstream)
    assert upstream.calls == 1
    assert await store.run("acct_2", "key-1", OTHER, upstream) == (b"run_1", False)
    assert upstream.calls == 2


async def test_a_failed_call_frees_the_key_for_a_retry(make_store: StoreFactory) -> None:
    """Failures are not stored: the retry goes upstream and its answer is the one kept."""
    store, upstream = make_store(), Upstream()
    upstream.fail = True
    with pytest.raises(RuntimeError, match="upstream down"):
        await store.run("acct_1", "key-1", DIGEST, upstream)
    upstream.fail = False
    assert await store.run("acct_1", "key-1", DIGEST, upstream) == (b"run_1", False)
    assert await store.run("acct_1", "key-1", DIGEST, upstream) == (b"run_1", True)
    assert upstream.calls == 2


async def test_concurrent_calls_with_one_key_go_upstream_once(make_store: StoreFactory) -> None:
    """Eight concurrent calls: one executes, seven wait and replay its answer."""
    store, upstream = make_store(), Upstream(latency_s=0.3)
    deadline = time.monotonic() + 10
    results = await asyncio.wait_for(
        asyncio.gather(
            *(store.run("acct_1", "key-1", DIGEST, upstream, deadline=deadline) for _ in range(8))
        ),
        15,
    )
    assert upstream.calls == 1
    assert {answer for answer, _ in results} == {b"run_1"}
    assert sorted(replayed for _, replayed in results) == [False] + [True] * 7


async def test_a_stored_answer_expires_after_the_ttl(make_store: StoreFactory) -> None:
    """Within the TTL the key is taken; after it, the same key is free for any request."""
    store, upstream = make_store(ttl_s=1.0), Upstream()
    stored_at = time.monotonic()
    await store.run("acct_1", "key-1", DIGEST, upstream)
    with pytest.raises(IdempotencyKeyReused):
        await store.run("acct_1", "key-1", OTHER, upstream)
    while True:  # wait (bounded) until the TTL has passed
        try:
            result = await store.run("acct_1", "key-1", OTHER, upstream)
            break
        except IdempotencyKeyReused:
            assert time.monotonic() - stored_at < 5, "the key never expired"
            await asyncio.sleep(0.05)
    assert result == (b"run_1", False)
    assert time.monotonic() - stored_at >= 0.9
    assert upstream.calls == 2
