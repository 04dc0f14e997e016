"""Console sessions in memory and on Redis: two replicas' stores share a sign-in and a sign-out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from services.mcp_facade.console.sessions import (
    MemoryConsoleSessions,
    RedisConsoleSessions,
    SessionStoreUnavailable,
    open_console_sessions,
)
from services.mcp_facade.settings import FacadeSettings

TOKEN = "gmcpat_console-secret-token-4711"


@pytest.fixture
async def two_replicas(
    clean_redis_url: str,
) -> AsyncIterator[tuple[RedisConsoleSessions, RedisConsoleSessions]]:
    first = RedisConsoleSessions(clean_redis_url, "test:")
    second = RedisConsoleSessions(clean_redis_url, "test:")
    yield first, second
    await first.close()
    await second.close()


async def test_a_sign_in_on_one_replica_is_honoured_by_another_and_a_sign_out_ends_it_on_both(
    two_replicas: tuple[RedisConsoleSessions, RedisConsoleSessions],
) -> None:
    first, second = two_replicas
    session_id, started = await first.start(TOKEN)
    seen = await second.get(session_id)
    assert seen is not None and seen.token == TOKEN and seen.csrf == started.csrf
    assert seen.csrf_ok(started.csrf) and not seen.csrf_ok("forged")
    assert await second.get(session_id + "x") is None and await second.get(None) is None
    await second.end(session_id)
    assert await first.get(session_id) is None
    assert await second.get(session_id) is None


async def test_redis_holds_neither_the_session_id_nor_the_token(
    two_replicas: tuple[RedisConsoleSessions, RedisConsoleSessions], clean_redis_url: str
) -> None:
    first, _ = two_replicas
    session_id, _ = await first.start(TOKEN)
    raw = aioredis.from_url(clean_redis_url)
    try:
        keys = [k.decode() for k in await raw.keys("test:console:session:*")]
        assert len(keys) == 1 and session_id not in keys[0]
        stored = (await raw.get(keys[0])).decode()
        assert TOKEN not in stored and session_id not in stored
        ttl_ms = await raw.pttl(keys[0])
        assert 0 < ttl_ms <= 3_600_000  # idle expiry
    finally:
        await raw.aclose()


async def test_idle_and_maximum_age_end_a_redis_session(clean_redis_url: str) -> None:
    now = [1_000.0]
    sessions = RedisConsoleSessions(clean_redis_url, "test:", ttl_s=0.15, max_age_s=50, clock=lambda: now[0])
    try:
        session_id, _ = await sessions.start(TOKEN)
        assert await sessions.get(session_id) is not None
        now[0] += 51  # past the maximum age, whatever the idle timer says
        assert await sessions.get(session_id) is None
        now[0] = 1_000.0
        idle_id, _ = await sessions.start(TOKEN)
        raw = aioredis.from_url(clean_redis_url)
        try:
            key = (await raw.keys("test:console:session:*"))[0]
            assert 0 < await raw.pttl(key) <= 150  # Redis ends it after ttl_s without use
        finally:
            await raw.aclose()
    finally:
        await sessions.close()


async def test_an_unreachable_redis_is_an_error_not_a_missing_session() -> None:
    sessions = RedisConsoleSessions("redis://127.0.0.1:1/0", "test:")
    try:
        with pytest.raises(SessionStoreUnavailable):
            await sessions.get("some-id")
        with pytest.raises(SessionStoreUnavailable):
            await sessions.start(TOKEN)
    finally:
        await sessions.close()


async def test_memory_sessions_expire_when_idle_or_too_old() -> None:
    now = [0.0]
    sessions = MemoryConsoleSessions(ttl_s=10, max_age_s=25, clock=lambda: now[0])
    session_id, _ = await sessions.start(TOKEN)
    for _ in range(2):
        now[0] += 9
        assert await sessions.get(session_id) is not None  # each use restarts the idle timer
    now[0] += 9  # 27 s old
    assert await sessions.get(session_id) is None
    idle_id, _ = await sessions.start(TOKEN)
    now[0] += 11
    assert await sessions.get(idle_id) is None
    other, _ = await sessions.start(TOKEN)
    await sessions.end(other)
    assert await sessions.get(other) is None


def test_the_store_follows_the_facade_state_setting() -> None:
    assert isinstance(open_console_sessions(FacadeSettings()), MemoryConsoleSessions)
    shared = FacadeSettings(store="redis", redis_url=SecretStr("redis://127.0.0.1:6379/0"))
    assert isinstance(open_console_sessions(shared), RedisConsoleSessions)
    with pytest.raises(ValueError, match="REDIS_URL"):
        open_console_sessions(FacadeSettings(store="redis"))


async def test_an_identity_provider_sign_in_keeps_its_operator_on_every_replica(
    two_replicas: tuple[RedisConsoleSessions, RedisConsoleSessions],
) -> None:
    from services.mcp_facade.console.sessions import Operator

    first, second = two_replicas
    operator = Operator("ada@example.com", "ada@example.com", ("staff", "ops"), "tok_123")
    session_id, _ = await first.start(TOKEN, operator)
    seen = await second.get(session_id)
    assert seen is not None and seen.token == TOKEN and seen.operator == operator
    pasted_id, _ = await first.start(TOKEN)
    pasted = await second.get(pasted_id)
    assert pasted is not None and pasted.operator is None
    memory = MemoryConsoleSessions()
    memory_id, _ = await memory.start(TOKEN, operator)
    assert (await memory.get(memory_id)) is not None
    assert (await memory.get(memory_id)).operator == operator  # type: ignore[union-attr]
