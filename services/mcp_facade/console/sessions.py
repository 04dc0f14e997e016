"""Console sign-in sessions: a random id in an HttpOnly cookie, the API token kept server-side.

A session signed in at the identity provider (idp.py) holds the API token the console minted for
that person, and who they are (`Operator`), so the middleware can check them against the console's
allowed set on every request and sign-out can revoke the token.

The token never goes to the browser after sign-in (only the opaque session id does), each session has
its own CSRF token, and sessions end after `ttl_s` of idleness, at `max_age_s`, or on sign-out.

They live where the façade's shared state lives (mount.py's `open_console_sessions`): this process's
memory by default, Redis when GMCP_FACADE_STORE=redis (sessions_redis.py), so that every replica
honours a sign-in and a sign-out.
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
import logging
import secrets
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from gumloop_mcp.runtime import SYSTEM_CLOCK, Clock

__all__ = [
    "ConsoleSession",
    "ConsoleSessions",
    "Operator",
    "MemoryConsoleSessions",
    "SessionStoreUnavailable",
]

logger = logging.getLogger(__name__)

_MAX_SESSIONS: Final = 1_000
DEFAULT_TTL_S: Final = 3_600.0
DEFAULT_MAX_AGE_S: Final = 12 * 3_600.0
# How often `sweep_every` looks for sessions that ended unseen (a minted token outlives its session
# by at most about this long).
SWEEP_EVERY_S: Final = 10.0

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


def derive_key(session_id: str, purpose: bytes) -> bytes:
    """A key derived from a session id for `purpose` (a Redis session's key name and token key)."""
    return hashlib.sha256(b"gmcp-console-session:" + purpose + b":" + session_id.encode()).digest()
