"""One contract, two backends: the in-memory state and the Redis state (a real redis-server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.mcp_facade.state.state import FacadeState, MemoryState
from services.mcp_facade.state.state_redis import RedisState

PREFIX = "gmcp:test:"


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[FacadeState]:
    """A started state of each backend (Redis flushed first)."""
    backend: FacadeState
    if request.param == "memory":
        backend = MemoryState()
    else:
        backend = RedisState(request.getfixturevalue("clean_redis_url"), PREFIX)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def redis_pair(clean_redis_url: str) -> AsyncIterator[tuple[RedisState, RedisState]]:
    """Two RedisState instances (two replicas) on one flushed Redis, not started."""
    first, second = RedisState(clean_redis_url, PREFIX), RedisState(clean_redis_url, PREFIX)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _pttl(redis_url: str, key: str) -> int:
    """The key's remaining time to live in Redis, in milliseconds."""
    client = aioredis.from_url(redis_url)
    try:
        return int(await client.pttl(key))
    finally:
        await client.aclose()


def _task(
    task_id: str, server: str = "s1", ttl: int = 60_000, created: float | None = None
) -> dict[str, Any]:
    return {
        "id": task_id,
        "server": server,
        "owner": "r1",
        "status": "working",
        "created": time.time() if created is None else created,
        "ttl": ttl,
        "result": None,
    }


async def test_budget_allows_per_minute_then_says_when_to_retry_and_refills(state: FacadeState) -> None:
    """60/min: 60 calls pass, the next waits about a second, another key is independent, time refills."""
    assert all([await state.take_call("s1", 60) == 0 for _ in range(60)])
    wait = await state.take_call("s1", 60)
    assert 0.5 < wait <= 1.0
    assert await state.take_call("s2", 60) == 0

    async def refilled() -> bool:
        return await state.take_call("s1", 60) == 0

    started = time.monotonic()
    await _until(refilled, 3.0)
    assert time.monotonic() - started >= 0.3


async def test_zero_budget_disables_the_limit(state: FacadeState) -> None:
    """calls_per_minute 0 means unlimited."""
    assert all([await state.take_call("s1", 0) == 0 for _ in range(50)])


async def test_session_end_and_level(state: FacadeState) -> None:
    """A level is per session; ending a session drops its level; unknown sessions are live."""
    expires = time.time() + 60
    await state.set_session_level("n1", "debug", expires)
    await state.set_session_level("n2", "error", expires)
    assert await state.session_state("n1") == (False, "debug")
    assert await state.session_state("unknown") == (False, None)
    await state.end_session("n1", expires)
    assert await state.session_state("n1") == (True, None)
    assert await state.session_state("n2") == (False, "error")


async def test_task_record_lifecycle(state: FacadeState) -> None:
    """Create, load, update, list oldest first, isolation per server, expiry after the ttl."""
    await state.create_task(_task("t2", created=2.0))
    await state.create_task(_task("t1", created=1.0))
    await state.create_task(_task("t3", server="s2"))
    await state.create_task(_task("short", ttl=300))
    assert (await state.load_task("s1", "t1") or {})["status"] == "working"
    assert await state.load_task("s2", "t1") is None
    await state.update_task({**_task("t1", created=1.0), "status": "completed", "result": {"content": []}})
    loaded = await state.load_task("s1", "t1") or {}
    assert (loaded["status"], loaded["result"]) == ("completed", {"content": []})
    await state.update_task(_task("never-created"))
    assert await state.load_task("s1", "never-created") is None
    assert [t["id"] for t in await state.list_tasks("s1")][:2] == ["t1", "t2"]
    assert [t["id"] for t in await state.list_tasks("s2")] == ["t3"]

    async def short_gone() -> bool:
        return await state.load_task("s1", "short") is None

    await _until(short_gone, 3.0)
    assert [t["id"] for t in await state.list_tasks("s1")] == ["t1", "t2"]


async def test_messages_and_liveness(state: FacadeState) -> None:
    """send() reaches this replica's handler; an unknown replica receives nothing and is not alive."""
    seen: list[dict[str, Any]] = []
    got = asyncio.Event()

    def handler(message: dict[str, Any]) -> None:
        seen.append(message)
        got.set()

    state.on_message("ping", handler)
    assert await state.send(state.replica_id, {"kind": "ping", "n": 1}) is True
    await asyncio.wait_for(got.wait(), 5)
    got.clear()
    await state.broadcast({"kind": "ping", "n": 2})
    await asyncio.wait_for(got.wait(), 5)
    assert [m["n"] for m in seen] == [1, 2]
    assert await state.send("no-such-replica", {"kind": "ping"}) is False
    assert await state.replica_alive(state.replica_id) is True
    assert await state.replica_alive("no-such-replica") is False


async def test_stream_presence(state: FacadeState) -> None:
    """A claimed stream names its replica and server until released."""
    await state.claim_stream("c1", "s1", 30)
    assert await state.stream_owner("c1") == (state.replica_id, "s1")
    await state.release_stream("c1")
    assert await state.stream_owner("c1") is None


async def test_a_sessions_watches_are_counted_up_to_the_limit(state: FacadeState) -> None:
    """Below the limit a new URI is recorded; at it only an already recorded one; a release frees a
    slot, and releasing all (the session ended) frees every one."""
    assert [await state.reserve_watch("c1", f"u{n}", 2, 30) for n in (1, 2, 3)] == [True, True, False]
    assert await state.reserve_watch("c1", "u1", 2, 30) is True
    assert await state.reserve_watch("c2", "u3", 2, 30) is True  # another session has its own count
    await state.release_watch("c1", "u1")
    assert await state.reserve_watch("c1", "u3", 2, 30) is True
    await state.release_watch("c1", None)
    assert [await state.reserve_watch("c1", f"u{n}", 2, 30) for n in (4, 5)] == [True, True]


async def test_redis_a_watch_taken_over_stays_counted_until_its_holder_or_the_client_releases_it(
    redis_pair: tuple[RedisState, RedisState], clean_redis_url: str
) -> None:
    """The replica a watch moved away from cannot uncount it; the client's release can (any replica)."""
    first, second = redis_pair
    assert await first.reserve_watch("c1", "u1", 1, 30) is True
    assert await second.reserve_watch("c1", "u1", 1, 30) is True  # taken over
    await first.release_watch("c1", "u1")
    assert await first.reserve_watch("c1", "u2", 1, 30) is False
    await first.release_watch("c1", "u1", any_replica=True)
    assert await first.reserve_watch("c1", "u2", 1, 30) is True
    assert 0 < await _pttl(clean_redis_url, f"{PREFIX}watches:c1") <= 30_000


async def test_redis_release_keeps_a_claim_another_replica_took_since(
    redis_pair: tuple[RedisState, RedisState],
) -> None:
    """A stream claimed again by another replica (its client reconnected there) stays claimed when
    the first replica releases it; the holder's own release forgets it."""
    first, second = redis_pair
    await first.claim_stream("get:n1", "s1", 30)
    await second.claim_stream("get:n1", "s1", 30)
    await first.release_stream("get:n1")
    assert await first.stream_owner("get:n1") == (second.replica_id, "s1")
    await second.release_stream("get:n1")
    assert await first.stream_owner("get:n1") is None


async def test_redis_budget_is_shared_between_replicas_and_idle_buckets_expire(
    redis_pair: tuple[RedisState, RedisState], clean_redis_url: str
) -> None:
    """Two RedisState instances drain one bucket; the bucket key carries a TTL so it vanishes when idle."""
    first, second = redis_pair
    results = [await (first if i % 2 else second).take_call("s1", 60) for i in range(61)]
    assert results[:60] == [0.0] * 60
    assert 0.9 < results[60] <= 1.0
    assert 0 < await _pttl(clean_redis_url, f"{PREFIX}budget:s1") <= 62_000


async def test_redis_heartbeat_marks_a_replica_alive_until_it_closes(clean_redis_url: str) -> None:
    """Another replica sees this one alive while started; after close it is gone."""
    owner, reader = RedisState(clean_redis_url, PREFIX), RedisState(clean_redis_url, PREFIX)
    await owner.start()
    try:

        async def alive() -> bool:
            return await reader.replica_alive(owner.replica_id)

        await _until(alive)
    finally:
        await owner.close()
    assert await reader.replica_alive(owner.replica_id) is False
    await reader.close()
