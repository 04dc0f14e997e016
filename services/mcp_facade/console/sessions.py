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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aioredis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.exceptions import RedisError

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

_MAX_SESSIONS: Final = 1_000
_CONNECT_TIMEOUT_S: Final = 1.0
_SOCKET_TIMEOUT_S: Final = 2.0
DEFAULT_TTL_S: Final = 3_600.0
DEFAULT_MAX_AGE_S: Final = 12 * 3_600.0

Clock = Callable[[], float]


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

    @property
    def max_age_s(self) -> float:
        """How long a session can last at most (a token minted for one need not outlive it)."""
        return self._max_age_s

    def _new(self, token: str, operator: Operator | None) -> tuple[str, ConsoleSession]:
        now = self._clock()
        return secrets.token_urlsafe(32), ConsoleSession(token, secrets.token_urlsafe(32), now, now, operator)

    def _live(self, session: ConsoleSession, now: float) -> bool:
        return now - session.seen <= self._ttl_s and now - session.created <= self._max_age_s

    @abstractmethod
    async def start(self, token: str, operator: Operator | None = None) -> tuple[str, ConsoleSession]:
        """A new session for `token`: (session id for the cookie, the session)."""

    @abstractmethod
    async def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session of this id (its idle timer restarts), else None."""

    @abstractmethod
    async def end(self, session_id: str | None) -> None:
        """Sign out (unknown ids are ignored)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class MemoryConsoleSessions(ConsoleSessions):
    """This process's sessions (oldest evicted past 1,000)."""

    def __init__(
        self, ttl_s: float = DEFAULT_TTL_S, max_age_s: float = DEFAULT_MAX_AGE_S, clock: Clock = time.time
    ) -> None:
        super().__init__(ttl_s, max_age_s, clock)
        self._by_id: OrderedDict[str, ConsoleSession] = OrderedDict()

    async def start(self, token: str, operator: Operator | None = None) -> tuple[str, ConsoleSession]:
        session_id, session = self._new(token, operator)
        self._by_id[session_id] = session
        while len(self._by_id) > _MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return session_id, session

    async def get(self, session_id: str | None) -> ConsoleSession | None:
        session = self._by_id.get(session_id) if session_id else None
        if session is None or session_id is None:
            return None
        now = self._clock()
        if not self._live(session, now):
            del self._by_id[session_id]
            return None
        session.seen = now
        self._by_id.move_to_end(session_id)
        return session

    async def end(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)


def _derive(session_id: str, purpose: bytes) -> bytes:
    return hashlib.sha256(b"gmcp-console-session:" + purpose + b":" + session_id.encode()).digest()


class RedisConsoleSessions(ConsoleSessions):
    """Sessions on Redis, shared by every replica (see the module docstring)."""

    def __init__(
        self,
        url: str,
        prefix: str,
        ttl_s: float = DEFAULT_TTL_S,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(ttl_s, max_age_s, clock)
        self._prefix = f"{prefix}console:session:"
        self._redis: aioredis.Redis = aioredis.from_url(
            url, socket_connect_timeout=_CONNECT_TIMEOUT_S, socket_timeout=_SOCKET_TIMEOUT_S
        )

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
        try:
            await self._redis.set(self._key(session_id), json.dumps(record), px=int(self._ttl_s * 1000))
        except RedisError as exc:
            raise SessionStoreUnavailable(f"console sessions: {exc.__class__.__name__}") from exc
        return session_id, session

    async def get(self, session_id: str | None) -> ConsoleSession | None:
        if not session_id:
            return None
        key = self._key(session_id)
        try:
            # GETEX pushes the idle expiry back in the same round trip.
            raw = await self._redis.getex(key, px=int(self._ttl_s * 1000))
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
            session = ConsoleSession(token, str(record["csrf"]), created, self._clock(), operator)
        except (ValueError, KeyError, TypeError, InvalidTag):
            return None  # not a record this code wrote: no session
        if not self._live(session, session.seen):
            await self.end(session_id)
            return None
        return session

    async def end(self, session_id: str | None) -> None:
        if not session_id:
            return
        try:
            await self._redis.delete(self._key(session_id))
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
