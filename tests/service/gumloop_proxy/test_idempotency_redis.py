"""Redis idempotency across replicas: one upstream call, crashed holders, lease renewal, Redis outages.

Each "replica" is its own RedisIdempotencyStore (own connection pool) on one real Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from services.gumloop_proxy.errors import IdempotencyKeyReused, StoreUnavailable, UpstreamTimeout
from services.gumloop_proxy.idempotency import fingerprint
from services.gumloop_proxy.idempotency_redis import RedisIdempotencyStore
from tests.conftest import find_redis_server, start_redis, stop_redis

PREFIX = "gmcp:test:"
DIGEST = fingerprint("start_agent", {"gummie_id": "g_1", "message": "hello"})
OTHER = fingerprint("start_agent", {"gummie_id": "g_1", "message": "bye"})

Replicas = Callable[..., RedisIdempotencyStore]


@pytest.fixture
async def replica(clean_redis_url: str) -> AsyncIterator[Replicas]:
    """Opens stores ("replicas") on the shared, flushed Redis; closes them afterwards."""
    opened: list[RedisIdempotencyStore] = []

    def make(*, ttl_s: float = 60.0, lease_s: float = 10.0) -> RedisIdempotencyStore:
        # Redis round trips bounded generously: a loaded 2-core CI machine must not turn a slow reply into
        # StoreUnavailable in tests that count upstream calls.
        store = RedisIdempotencyStore(clean_redis_url, PREFIX, ttl_s=ttl_s, lease_s=lease_s, timeout_s=5.0)
        opened.append(store)
        return store

    try:
        yield make
    finally:
        for store in opened:
            await store.close()


@pytest.fixture
async def raw(clean_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client to inspect and plant keys."""
    client: aioredis.Redis = aioredis.from_url(clean_redis_url)
    try:
        yield client
    finally:
        await client.aclose()


class Upstream:
    """Counts calls across replicas; `latency_s` simulates a slow upstream."""

    def __init__(self, answer: bytes = b"run_1", *, latency_s: float = 0.0) -> None:
        self.answer = answer
        self.latency_s = latency_s
        self.calls = 0

    async def __call__(self) -> bytes:
        self.calls += 1
        await asyncio.sleep(self.latency_s)
        return self.answer


async def test_two_replicas_racing_on_one_key_go_upstream_once(replica: Replicas) -> None:
    """Ten concurrent calls spread over two replicas: exactly one upstream call, all get its answer."""
    one, two = replica(), replica()
    upstream = Upstream(latency_s=0.3)
    deadline = time.monotonic() + 10
    calls = [
        (one if i % 2 else two).run("acct_1", "retry-me", DIGEST, upstream, deadline=deadline)
        for i in range(10)
    ]
    results = await asyncio.wait_for(asyncio.gather(*calls), 15)
    assert upstream.calls == 1
    assert {answer for answer, _ in results} == {b"run_1"}
    assert [replayed for _, replayed in results].count(False) == 1
    # A later retry on the other replica replays too, and other arguments are refused there.
    assert await one.run("acct_1", "retry-me", DIGEST, upstream) == (b"run_1", True)
    with pytest.raises(IdempotencyKeyReused):
        await two.run("acct_1", "retry-me", OTHER, upstream)


async def test_keys_hold_only_the_account_and_a_digest_of_the_client_key(
    replica: Replicas, raw: aioredis.Redis
) -> None:
    """Key: prefix + idem:<account>:<sha256 of the client key>; value: state, fingerprint, answer."""
    store = replica(ttl_s=120)
    await store.run("acct_1", "customer-secret-key", DIGEST, Upstream(b"answer-bytes"))
    keys = [k.decode() for k in await raw.keys("*")]
    expected = f"{PREFIX}idem:acct_1:{hashlib.sha256(b'customer-secret-key').hexdigest()}"
    assert keys == [expected]
    value = await raw.get(expected)
    assert value == b"D" + DIGEST.encode() + b"answer-bytes"
    assert b"customer-secret-key" not in value
    assert 110_000 < await raw.pttl(expected) <= 120_000


async def test_a_crashed_holders_lease_is_taken_over_after_it_expires(
    replica: Replicas, raw: aioredis.Redis
) -> None:
    """A lease left by a dead holder blocks the key until it expires; then a waiting call runs."""
    store, upstream = replica(), Upstream(b"second-try")
    slot = store.slot("acct_1", "k")
    await raw.set(slot, b"P" + DIGEST.encode() + b"claim-of-a-dead-replica", px=700)
    planted = time.monotonic()
    # While the lease lives, a caller with a short deadline waits and gives up without calling upstream.
    with pytest.raises(UpstreamTimeout, match="still running"):
        await store.run("acct_1", "k", DIGEST, upstream, deadline=time.monotonic() + 0.2)
    assert upstream.calls == 0
    # A different request under the held key is refused at once.
    with pytest.raises(IdempotencyKeyReused):
        await store.run("acct_1", "k", OTHER, upstream)
    answer = await asyncio.wait_for(
        store.run("acct_1", "k", DIGEST, upstream, deadline=time.monotonic() + 5), 10
    )
    assert answer == (b"second-try", False)
    assert time.monotonic() - planted >= 0.6
    assert upstream.calls == 1
    assert await raw.get(slot) == b"D" + DIGEST.encode() + b"second-try"


async def test_a_slow_holder_renews_its_lease_so_no_other_replica_runs(replica: Replicas) -> None:
    """An upstream call lasting several lease periods keeps the key: the other replica waits, not runs."""
    one, two = replica(lease_s=0.6), replica(lease_s=0.6)
    upstream = Upstream(b"slow", latency_s=2.0)
    first = asyncio.create_task(one.run("acct_1", "k", DIGEST, upstream))
    while upstream.calls == 0:
        await asyncio.sleep(0.01)
    second = await asyncio.wait_for(
        two.run("acct_1", "k", DIGEST, upstream, deadline=time.monotonic() + 5), 10
    )
    assert second == (b"slow", True)
    assert await first == (b"slow", False)
    assert upstream.calls == 1


async def test_a_failed_holder_frees_the_key_and_a_waiting_replica_runs(replica: Replicas) -> None:
    """The first call fails on one replica; the call waiting on the other goes upstream itself."""
    one, two = replica(), replica()
    started = asyncio.Event()

    async def failing() -> bytes:
        started.set()
        await asyncio.sleep(0.2)
        raise RuntimeError("Gumloop 503")

    upstream = Upstream(b"ok")
    first = asyncio.create_task(one.run("acct_1", "k", DIGEST, failing))
    await asyncio.wait_for(started.wait(), 5)
    second = await asyncio.wait_for(
        two.run("acct_1", "k", DIGEST, upstream, deadline=time.monotonic() + 5), 10
    )
    with pytest.raises(RuntimeError, match="503"):
        await first
    assert second == (b"ok", False)
    assert upstream.calls == 1


async def test_a_stopped_redis_refuses_keyed_calls_with_a_clear_unavailable_error() -> None:
    """Redis down: StoreUnavailable naming the idempotency store, quickly, and nothing goes upstream."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found (run scripts/ensure-redis or set REDIS_SERVER)")
    with tempfile.TemporaryDirectory(prefix="gmcp-redis-") as workdir:
        proc, port = start_redis(binary, workdir)
        store = RedisIdempotencyStore(
            f"redis://127.0.0.1:{port}/0", PREFIX, ttl_s=60, lease_s=10, timeout_s=1.0
        )
        try:
            upstream = Upstream()
            assert await store.run("acct_1", "k", DIGEST, upstream) == (b"run_1", False)
            stop_redis(proc)
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                await store.run("acct_1", "k2", DIGEST, upstream)
            assert time.monotonic() - started < 3
            message = str(caught.value)
            assert "idempotency store (Redis) is unavailable" in message
            assert "not sent to Gumloop" in message
            assert str(port) not in message
            assert upstream.calls == 1
        finally:
            stop_redis(proc)
            await store.close()


async def test_redis_lost_after_upstream_answered_still_returns_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The work is done upstream: the caller gets its answer; the unstored answer is logged."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found (run scripts/ensure-redis or set REDIS_SERVER)")
    with tempfile.TemporaryDirectory(prefix="gmcp-redis-") as workdir:
        proc, port = start_redis(binary, workdir)
        store = RedisIdempotencyStore(
            f"redis://127.0.0.1:{port}/0", PREFIX, ttl_s=60, lease_s=10, timeout_s=1.0
        )

        async def upstream_then_outage() -> bytes:
            stop_redis(proc)
            return b"run_started"

        try:
            assert await store.run("acct_1", "k", DIGEST, upstream_then_outage) == (b"run_started", False)
            assert "answer not stored" in caplog.text
        finally:
            stop_redis(proc)
            await store.close()
