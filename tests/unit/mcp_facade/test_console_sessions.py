"""Console sessions in memory and on Redis: two replicas' stores share a sign-in and a sign-out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from services.mcp_facade.console.mount import open_console_sessions
from services.mcp_facade.console.sessions import (
    ConsoleSessions,
    MemoryConsoleSessions,
    Operator,
    SessionStoreUnavailable,
)
from services.mcp_facade.console.sessions_redis import RedisConsoleSessions
from services.mcp_facade.settings import FacadeSettings
from tests.fakes.clock import FakeClock

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
    clock = FakeClock()
    sessions = RedisConsoleSessions(clean_redis_url, "test:", ttl_s=0.15, max_age_s=50, clock=clock)
    try:
        session_id, _ = await sessions.start(TOKEN)
        assert await sessions.get(session_id) is not None
        clock.advance(51)  # past the maximum age, whatever the idle timer says
        assert await sessions.get(session_id) is None
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
    clock = FakeClock()
    sessions = MemoryConsoleSessions(ttl_s=10, max_age_s=25, clock=clock)
    session_id, _ = await sessions.start(TOKEN)
    for _ in range(2):
        clock.advance(9)
        assert await sessions.get(session_id) is not None  # each use restarts the idle timer
    clock.advance(9)  # 27 s old
    assert await sessions.get(session_id) is None
    idle_id, _ = await sessions.start(TOKEN)
    clock.advance(11)
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


ADA = Operator("ada@example.com", "ada@example.com", ("ops",), "tok_ada")
BOB = Operator("bob@example.com", "bob@example.com", (), "tok_bob")


def _revocations(sessions: ConsoleSessions) -> list[str]:
    """The token ids `sessions` asks to revoke, in order."""
    revoked: list[str] = []

    async def revoke(operator: Operator) -> None:
        revoked.append(operator.token_id)

    sessions.on_expired(revoke)
    return revoked


async def test_an_idle_memory_session_revokes_its_minted_token_when_found_or_swept() -> None:
    clock = FakeClock()
    sessions = MemoryConsoleSessions(ttl_s=10, max_age_s=100, clock=clock)
    revoked = _revocations(sessions)
    ada_id, _ = await sessions.start(TOKEN, ADA)
    bob_id, _ = await sessions.start(TOKEN, BOB)
    pasted_id, _ = await sessions.start(TOKEN)  # a pasted token is the person's own: never revoked
    clock.advance(5)
    assert await sessions.get(bob_id) is not None
    clock.advance(6)  # ada and the pasted one idle for 11 s, bob for 6 s
    assert await sessions.get(ada_id) is None  # found expired on its next use
    assert revoked == ["tok_ada"]
    assert await sessions.sweep() == 1  # the pasted one, nothing to revoke
    assert revoked == ["tok_ada"] and await sessions.get(pasted_id) is None
    clock.advance(11)
    assert await sessions.sweep() == 1  # bob, whom nobody used again
    assert revoked == ["tok_ada", "tok_bob"]
    assert await sessions.sweep() == 0 and await sessions.get(bob_id) is None
    assert revoked == ["tok_ada", "tok_bob"]  # each once
    old_id, _ = await sessions.start(TOKEN, ADA)
    for _ in range(11):
        clock.advance(9.5)
        await sessions.get(old_id)  # used all along, but past the maximum age at last
    assert await sessions.get(old_id) is None and revoked[-1] == "tok_ada" and len(revoked) == 3
    signed_out, _ = await sessions.start(TOKEN, BOB)
    await sessions.end(signed_out)  # sign-out revokes the token itself (views.py): not again here
    clock.advance(11)
    assert await sessions.sweep() == 0 and len(revoked) == 3


async def test_an_idle_redis_session_revokes_its_minted_token_once_across_replicas(
    clean_redis_url: str,
) -> None:
    clock = FakeClock()
    first = RedisConsoleSessions(clean_redis_url, "test:", ttl_s=10, max_age_s=100, clock=clock)
    second = RedisConsoleSessions(clean_redis_url, "test:", ttl_s=10, max_age_s=100, clock=clock)
    revoked = _revocations(first)
    revoked_too = _revocations(second)
    try:
        ada_id, _ = await first.start(TOKEN, ADA)
        bob_id, _ = await first.start(TOKEN, BOB)
        await first.start(TOKEN)
        clock.advance(9)
        assert await second.get(bob_id) is not None  # bob's use on the other replica pushes his deadline
        clock.advance(2)
        assert await second.sweep() == 1 and await first.sweep() == 0
        assert revoked + revoked_too == ["tok_ada"]
        assert await first.get(ada_id) is None and revoked + revoked_too == ["tok_ada"]
        clock.advance(9)
        assert await first.get(bob_id) is None  # found expired on its next use
        assert sorted(revoked + revoked_too) == ["tok_ada", "tok_bob"]
        assert await second.sweep() == 0
        raw = aioredis.from_url(clean_redis_url)
        try:
            assert await raw.zcard("test:console:operators") == 0
            assert await raw.hlen("test:console:operator-sessions") == 0
        finally:
            await raw.aclose()
    finally:
        await first.close()
        await second.close()


async def test_a_session_redis_dropped_revokes_its_token_on_next_use(clean_redis_url: str) -> None:
    sessions = RedisConsoleSessions(clean_redis_url, "test:", ttl_s=0.1, max_age_s=100, clock=FakeClock())
    revoked = _revocations(sessions)
    raw = aioredis.from_url(clean_redis_url)
    try:
        ada_id, _ = await sessions.start(TOKEN, ADA)
        async with asyncio.timeout(5):
            while await raw.exists(*(await raw.keys("test:console:session:*")) or ["none"]):
                await asyncio.sleep(0.05)  # Redis drops the idle key on its own (real time)
        assert await sessions.get(ada_id) is None
        assert revoked == ["tok_ada"]
    finally:
        await raw.aclose()
        await sessions.close()


async def test_the_periodic_sweep_revokes_tokens_of_sessions_nobody_uses_again() -> None:
    clock = FakeClock()
    sessions = MemoryConsoleSessions(ttl_s=10, max_age_s=100, clock=clock)
    revoked = _revocations(sessions)
    await sessions.start(TOKEN, ADA)
    clock.advance(11)
    sweeper = asyncio.create_task(sessions.sweep_every(0.01))
    try:
        async with asyncio.timeout(5):
            while not revoked:
                await asyncio.sleep(0.01)
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    assert revoked == ["tok_ada"]
