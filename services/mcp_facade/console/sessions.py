"""Console sign-in sessions: a random id in an HttpOnly cookie, the API token kept server-side.

The token never goes to the browser after sign-in (only the opaque session id does), each session has
its own CSRF token, and sessions end after `ttl_s` of idleness, at `max_age_s`, or on sign-out. They
live in this replica's memory: behind a load balancer, the console needs sticky sessions.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["ConsoleSession", "ConsoleSessions"]

_MAX_SESSIONS: Final = 1_000


@dataclass(slots=True)
class ConsoleSession:
    """One signed-in browser."""

    token: str
    csrf: str
    created: float
    seen: float

    def csrf_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.csrf.encode())


class ConsoleSessions:
    """The signed-in sessions, by session id (oldest evicted past 1,000)."""

    def __init__(
        self,
        ttl_s: float = 3_600.0,
        max_age_s: float = 12 * 3_600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s, self._max_age_s, self._clock = ttl_s, max_age_s, clock
        self._by_id: OrderedDict[str, ConsoleSession] = OrderedDict()

    def start(self, token: str) -> tuple[str, ConsoleSession]:
        """A new session for `token`: (session id for the cookie, the session)."""
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        session = ConsoleSession(token=token, csrf=secrets.token_urlsafe(32), created=now, seen=now)
        self._by_id[session_id] = session
        while len(self._by_id) > _MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return session_id, session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session of this id (its idle timer restarts), else None."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.seen > self._ttl_s or now - session.created > self._max_age_s:
            del self._by_id[session_id]
            return None
        session.seen = now
        self._by_id.move_to_end(session_id)
        return session

    def end(self, session_id: str | None) -> None:
        """Sign out (unknown ids are ignored)."""
        if session_id:
            self._by_id.pop(session_id, None)
