"""Console sign-in sessions: a random id in an HttpOnly cookie, the API token kept server-side.

A session signed in at the identity provider (idp.py) holds the API token the console minted for
that person, and who they are (`Operator`), so the middleware can check them against the console's
allowed set on every request and sign-out can revoke the token.

The token never goes to the browser after sign-in (only the opaque session id does), each session has
its own CSRF token, and sessions end after `ttl_s` of idleness, at `max_age_s`, or on sign-out.

They live where the façade's shared state lives (`open_console_sessions`): this process's memory by
default, Redis when GMCP_FACADE_STORE=redis, so that every replica honours a sign-in and a sign-out.
On Redis a session is a hash under `<prefix>console:session:<sha256 of the id>`, expiring after
`ttl_s` of idleness (each use pushes the expiry back). The API token is stored AES-GCM-encrypted
under a key derived from the session id, which only the browser's cookie holds: Redis alone reveals
neither the session id nor the token. Redis unreachable means no session can be read: the console
answers 503 rather than signing anyone in or out by mistake.

A session signed in at the identity provider that ends without a sign-out (idle, too old, evicted)
has its minted token revoked through `on_expired` (idp.py's `revoke`): when it is found expired on
its next use, and by `sweep()`, which `sweep_every()` runs periodically for sessions nobody uses
again. On Redis such sessions are also indexed (`…console:operators`, a sorted set of session keys
by deadline, and `…console:operator-sessions`, session key -> its operator: who and the token id,
no secret) because
Redis drops an idle session's own key by itself; taking an entry off the index is atomic, so one
replica revokes each token once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aioredis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.exceptions import RedisError

from gumloop_mcp.runtime import SYSTEM_CLOCK, Clock

from ..settings import FacadeSettings

__all__ = [
    "ConsoleSession",
    "ConsoleSessions",
    "Operator",
    "MemoryConsoleSessions",
    "RedisConsoleSessions",
    "SessionStoreUnavailable",
    "open_console_sessions",
]

logger = logging.getLogger(__name__)

_MAX_SESSIONS: Final = 1_000
_CONNECT_TIMEOUT_S: Final = 1.0
_SOCKET_TIMEOUT_S: Final = 2.0
DEFAULT_TTL_S: Final = 3_600.0
DEFAULT_MAX_AGE_S: Final = 12 * 3_600.0
# How often `sweep_every` looks for sessions that ended unseen (a minted token outlives its session
# by at most about this long).
SWEEP_EVERY_S: Final = 60.0
_SWEEP_BATCH: Final = 100

# Called with the operator of a session that ended without a sign-out (its token is revoked).
OnExpired = Callable[["Operator"], Awaitable[None]]


class SessionStoreUnavailable(Exception):
    """The shared session store (Redis) could not be reached or answered badly."""


@dataclass(frozen=True, slots=True)
class Operator:
    """A person the identity provider signed in, and the API token the console minted for them."""

    label: str  # their email, else the provider's subject
    email: str
    groups: tuple[str, ...]
    token_id: str

    def record(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "email": self.email,
            "groups": list(self.groups),
            "token_id": self.token_id,
        }

    @classmethod
    def from_record(cls, record: Any) -> Operator | None:
        if record is None:
            return None
        groups = record["groups"]
        if not isinstance(groups, list):
            raise TypeError("groups")
        return cls(
            str(record["label"]), str(record["email"]), tuple(map(str, groups)), str(record["token_id"])
        )


@dataclass(slots=True)
class ConsoleSession:
    """One signed-in browser (`operator`: signed in at the identity provider, else with an API token)."""

    token: str
    csrf: str
    created: float
    seen: float
    operator: Operator | None = None

    def csrf_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.csrf.encode())


class ConsoleSessions(ABC):
    """The signed-in sessions, by session id."""

    def __init__(self, ttl_s: float, max_age_s: float, clock: Clock) -> None:
        self._ttl_s, self._max_age_s, self._clock = ttl_s, max_age_s, clock
        self._on_expired: OnExpired | None = None

    @property
    def max_age_s(self) -> float:
        """How long a session can last at most (a token minted for one need not outlive it)."""
        return self._max_age_s

    def on_expired(self, listener: OnExpired) -> None:
        """Call `listener` with the operator of each identity-provider session that ends without a
        sign-out (found expired on its next use, by `sweep`, or evicted), to revoke its token."""
        self._on_expired = listener

    async def _expired(self, operator: Operator | None) -> None:
        if operator is None or self._on_expired is None:
            return
        try:
            await self._on_expired(operator)
        except Exception:  # the session is over all the same; the token still expires on its own
            logger.exception("console: revoking the token of an expired session failed")

    def _new(self, token: str, operator: Operator | None) -> tuple[str, ConsoleSession]:
        now = self._clock.time()
        return secrets.token_urlsafe(32), ConsoleSession(token, secrets.token_urlsafe(32), now, now, operator)

    def _live(self, session: ConsoleSession, now: float) -> bool:
        return now - session.seen <= self._ttl_s and now - session.created <= self._max_age_s

    def _deadline(self, created: float, seen: float) -> float:
        """When a session seen last at `seen` ends unless used again."""
        return min(seen + self._ttl_s, created + self._max_age_s)

    @abstractmethod
    async def start(self, token: str, operator: Operator | None = None) -> tuple[str, ConsoleSession]:
        """A new session for `token`: (session id for the cookie, the session)."""

    @abstractmethod
    async def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session of this id (its idle timer restarts), else None."""

    @abstractmethod
    async def end(self, session_id: str | None) -> None:
        """Sign out (unknown ids are ignored; the caller revokes a minted token)."""

    @abstractmethod
    async def sweep(self) -> int:
        """End the sessions past their deadline and revoke their minted tokens; how many ended."""

    async def sweep_every(self, every_s: float = SWEEP_EVERY_S) -> None:
        """Run `sweep` every `every_s` until cancelled (a failed round is logged and retried)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.sweep()
            except SessionStoreUnavailable as exc:
                logger.warning("console: session sweep skipped: %s", exc)

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class MemoryConsoleSessions(ConsoleSessions):
    """This process's sessions (oldest evicted past 1,000)."""

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(ttl_s, max_age_s, clock)
        self._by_id: OrderedDict[str, ConsoleSession] = OrderedDict()

    async def start(self, token: str, operator: Operator | None = None) -> tuple[str, ConsoleSession]:
        session_id, session = self._new(token, operator)
        self._by_id[session_id] = session
        while len(self._by_id) > _MAX_SESSIONS:
            _, evicted = self._by_id.popitem(last=False)
            await self._expired(evicted.operator)
        return session_id, session

    async def get(self, session_id: str | None) -> ConsoleSession | None:
        session = self._by_id.get(session_id) if session_id else None
        if session is None or session_id is None:
            return None
        now = self._clock.time()
        if not self._live(session, now):
            del self._by_id[session_id]
            await self._expired(session.operator)
            return None
        session.seen = now
        self._by_id.move_to_end(session_id)
        return session

    async def end(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    async def sweep(self) -> int:
        now = self._clock.time()
        ended = 0
        for session_id, session in [(i, s) for i, s in self._by_id.items() if not self._live(s, now)]:
            if self._by_id.pop(session_id, None) is not None:  # not taken by a get meanwhile
                ended += 1
                await self._expired(session.operator)
        return ended


def _derive(session_id: str, purpose: bytes) -> bytes:
    return hashlib.sha256(b"gmcp-console-session:" + purpose + b":" + session_id.encode()).digest()


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
        return self._prefix + _derive(session_id, b"key").hex()

    async def start(self, token: str, operator: Operator | None = None) -> tuple[str, ConsoleSession]:
        session_id, session = self._new(token, operator)
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(_derive(session_id, b"token")).encrypt(nonce, token.encode(), None)
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
            token = AESGCM(_derive(session_id, b"token")).decrypt(blob[:12], blob[12:], None).decode()
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


def open_console_sessions(settings: FacadeSettings) -> ConsoleSessions:
    """Where the façade's shared state is: Redis with GMCP_FACADE_STORE=redis, else memory."""
    if settings.store == "redis":
        if settings.redis_url is None:
            raise ValueError("GMCP_FACADE_REDIS_URL is required when the store is redis")
        return RedisConsoleSessions(settings.redis_url.get_secret_value(), settings.redis_key_prefix)
    return MemoryConsoleSessions()
