"""Console sessions on Redis, shared by every replica (the layout is in sessions.py's docstring).

Apart from sessions.py so that redis-py is imported only by a façade whose store is Redis.
"""

from __future__ import annotations

import json
import secrets
from typing import Final

import redis.asyncio as aioredis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.exceptions import RedisError

from gumloop_mcp.runtime import SYSTEM_CLOCK, Clock

from .sessions import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_TTL_S,
    ConsoleSession,
    ConsoleSessions,
    Operator,
    SessionStoreUnavailable,
    derive_key,
)

__all__ = ["RedisConsoleSessions"]

_CONNECT_TIMEOUT_S: Final = 1.0
_SOCKET_TIMEOUT_S: Final = 2.0
_SWEEP_BATCH: Final = 100


# Take a session off the operator index, atomically, when it is due (its deadline <= ARGV[1]) or
# forced (ARGV[2] == "1"); delete the session and answer its operator record, or false when another
# caller took it first or it is not due. KEYS: the index, the operator hash, the session key.
_CLAIM: Final = """
local score = redis.call('ZSCORE', KEYS[1], KEYS[3])
if not score then return false end
if ARGV[2] ~= '1' and tonumber(score) > tonumber(ARGV[1]) then return false end
local operator = redis.call('HGET', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[1], KEYS[3])
redis.call('HDEL', KEYS[2], KEYS[3])
redis.call('DEL', KEYS[3])
return operator or ''
"""


class RedisConsoleSessions(ConsoleSessions):
    """Sessions on Redis, shared by every replica (see the module docstring)."""

    def __init__(
        self,
        url: str,
        prefix: str,
        ttl_s: float = DEFAULT_TTL_S,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(ttl_s, max_age_s, clock)
        self._prefix = f"{prefix}console:session:"
        self._index = f"{prefix}console:operators"
        self._operators = f"{prefix}console:operator-sessions"
        self._redis: aioredis.Redis = aioredis.from_url(
            url, socket_connect_timeout=_CONNECT_TIMEOUT_S, socket_timeout=_SOCKET_TIMEOUT_S
        )
        self._claim = self._redis.register_script(_CLAIM)

    def _key(self, session_id: str) -> str:
        return self._prefix + derive_key(session_id, b"key").hex()

    async def start(self, token: str, operator: Operator | None = None) -> tuple[str, ConsoleSession]:
        session_id, session = self._new(token, operator)
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(derive_key(session_id, b"token")).encrypt(nonce, token.encode(), None)
        record = {
            "csrf": session.csrf,
            "created": session.created,
            "token": (nonce + sealed).hex(),
            "operator": operator.record() if operator is not None else None,
        }
        key = self._key(session_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, json.dumps(record), px=int(self._ttl_s * 1000))
                if operator is not None:
                    pipe.hset(self._operators, key, json.dumps(operator.record()))
                    pipe.zadd(self._index, {key: self._deadline(session.created, session.seen)})
                await pipe.execute()
        except RedisError as exc:
            raise SessionStoreUnavailable(f"console sessions: {exc.__class__.__name__}") from exc
        return session_id, session

    async def get(self, session_id: str | None) -> ConsoleSession | None:
        if not session_id:
            return None
        key = self._key(session_id)
        now = self._clock.time()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                # GETEX pushes the idle expiry back in the same round trip.
                pipe.getex(key, px=int(self._ttl_s * 1000))
                pipe.zscore(self._index, key)
                raw, deadline = await pipe.execute()
            # An identity-provider session that ended unseen (Redis dropped it, or its time is up).
            ended = deadline is not None and (raw is None or deadline <= now)
            if ended and (await self._take(key, now, force=raw is None) or raw is None):
                return None
        except RedisError as exc:
            raise SessionStoreUnavailable(f"console sessions: {exc.__class__.__name__}") from exc
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            blob = bytes.fromhex(record["token"])
            token = AESGCM(derive_key(session_id, b"token")).decrypt(blob[:12], blob[12:], None).decode()
            operator = Operator.from_record(record.get("operator"))
            created = float(record["created"])
            session = ConsoleSession(token, str(record["csrf"]), created, now, operator)
        except (ValueError, KeyError, TypeError, InvalidTag):
            return None  # not a record this code wrote: no session
        try:
            if not self._live(session, now):
                if not await self._take(key, now, force=True):
                    await self._redis.delete(key)
                return None
            if operator is not None:
                await self._redis.zadd(self._index, {key: self._deadline(created, now)}, xx=True)
        except RedisError as exc:
            raise SessionStoreUnavailable(f"console sessions: {exc.__class__.__name__}") from exc
        return session

    async def _take(self, key: str, now: float, *, force: bool) -> bool:
        """Take a session off the operator index (when due, or `force`), delete it and revoke its
        token; whether this caller took it (another replica may have been first)."""
        claimed = await self._claim(keys=[self._index, self._operators, key], args=[now, int(force)])
        if claimed is None:
            return False
        try:
            operator = Operator.from_record(json.loads(claimed)) if claimed else None
        except (ValueError, KeyError, TypeError):
            operator = None  # not a record this code wrote: nothing to revoke
        await self._expired(operator)
        return True

    async def end(self, session_id: str | None) -> None:
        if not session_id:
            return
        key = self._key(session_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.zrem(self._index, key)
                pipe.hdel(self._operators, key)
                await pipe.execute()
        except RedisError as exc:
            raise SessionStoreUnavailable(f"console sessions: {exc.__class__.__name__}") from exc

    async def sweep(self) -> int:
        now = self._clock.time()
        ended = 0
        try:
            while True:
                due = await self._redis.zrangebyscore(self._index, "-inf", now, start=0, num=_SWEEP_BATCH)
                for key in due:
                    ended += await self._take(
                        key.decode() if isinstance(key, bytes) else str(key), now, force=False
                    )
                if len(due) < _SWEEP_BATCH:
                    return ended
        except RedisError as exc:
            raise SessionStoreUnavailable(f"console sessions: {exc.__class__.__name__}") from exc

    async def close(self) -> None:
        await self._redis.aclose()
