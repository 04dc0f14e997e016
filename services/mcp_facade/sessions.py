"""Self-contained, signed MCP session ids: any replica can serve any session.

A session id is `s1.<base64url(json claims)>.<base64url(HMAC-SHA256(secret, payload))>`.
The claims carry what the session-based revisions negotiate once and need on
every later request, and nothing more: the protocol version, the MCP server record
the session was opened for, a nonce, issue time and expiry, the client capabilities
the server acts on (`USED_CAPABILITIES`, presence only) and the client's name cut to
`_MAX_NAME_CHARS`. The client chooses its capabilities and clientInfo freely (a
6.5 KB description once made an 8.9 KB id, past the 8190-byte header limit of the
next request), so they are never copied whole; an id stays under `MAX_SESSION_ID_CHARS`.
No replica stores anything to serve a session, so no sticky routing is needed; every
replica must share `session_secret`.

The two things a session changes after it opened live in the shared façade state
(state.py), keyed by the session's nonce (never its signature) until its expiry:
- DELETE marks the session ended: every replica then answers 404 for it;
- logging/setLevel records the level every replica uses for log notifications.
`SessionStore.open()` reads both in one state lookup. With Redis unreachable the
lookup fails open (the session counts as live, without a logging level): the id is
still signed, expiring and re-authorised on every request; see state.py.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final

from .state import FacadeState

__all__ = [
    "LOG_LEVELS",
    "MAX_SESSION_ID_CHARS",
    "USED_CAPABILITIES",
    "Session",
    "SessionCodec",
    "SessionError",
    "SessionStore",
]

_PREFIX: Final = "s1"
# Client capabilities the server acts on (protocol._tasks_enabled, protocol.elicits): only their
# presence is kept. `elicitation` counts only when it includes form mode ({} or {"form": ...}): the
# server asks with forms, never by URL.
USED_CAPABILITIES: Final = ("tasks", "elicitation")
_MAX_NAME_CHARS: Final = 64
MAX_SESSION_ID_CHARS: Final = 1024

LOG_LEVELS: Final = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


class SessionError(Exception):
    """The session id is malformed, forged, expired, ended or for another server."""


@dataclass(frozen=True, slots=True)
class Session:
    """The claims of a session id."""

    nonce: str
    server_id: str
    protocol_version: str
    issued_at: float
    expires_at: float
    # The used capabilities the client declared, each as {} (see USED_CAPABILITIES).
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    # clientInfo.name, cut to _MAX_NAME_CHARS ("" when absent or too exotic to fit).
    client_name: str = ""

    @property
    def short(self) -> str:
        """A loggable prefix of the nonce (not the signature, not the whole id)."""
        return self.nonce[:8]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flags(capabilities: Any) -> list[str]:
    """The used capabilities present in a client's capabilities object."""
    if not isinstance(capabilities, dict):
        return []
    flags = [name for name in USED_CAPABILITIES if capabilities.get(name) is not None]
    elicitation = capabilities.get("elicitation")
    if "elicitation" in flags and not (
        isinstance(elicitation, dict) and (not elicitation or "form" in elicitation)
    ):
        flags.remove("elicitation")
    return flags


class SessionCodec:
    """Issues and verifies session ids (signature, expiry, server); pure, no state."""

    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self._secret = secret
        self._ttl_s = ttl_s

    def derive(self, purpose: str) -> bytes:
        """A key for another signing purpose (e.g. input-required request state), from the same secret."""
        return hmac.new(self._secret, f"derive:{purpose}".encode(), hashlib.sha256).digest()

    def issue(
        self,
        server_id: str,
        protocol_version: str,
        client_capabilities: dict[str, Any],
        client_info: dict[str, Any],
        *,
        now: float | None = None,
    ) -> tuple[str, Session]:
        """A new signed session id and its claims (only what later requests use; see the module)."""
        issued = time.time() if now is None else now
        flags = _flags(client_capabilities)
        name = client_info.get("name")
        name = name[:_MAX_NAME_CHARS] if isinstance(name, str) else ""
        session = Session(
            nonce=secrets.token_urlsafe(12),
            server_id=server_id,
            protocol_version=protocol_version,
            issued_at=issued,
            expires_at=issued + self._ttl_s,
            client_capabilities={flag: {} for flag in flags},
            client_name=name,
        )
        claims: dict[str, Any] = {
            "n": session.nonce,
            "s": server_id,
            "v": protocol_version,
            "iat": int(issued),
            "exp": int(session.expires_at),
            "f": flags,
            "c": name,
        }
        session_id = self._encode(claims)
        if len(session_id) > MAX_SESSION_ID_CHARS and name:
            # A name of escaped characters can still be long once encoded: the name is only informative.
            claims["c"] = ""
            session = dataclasses.replace(session, client_name="")
            session_id = self._encode(claims)
        if len(session_id) > MAX_SESSION_ID_CHARS:
            raise ValueError("session claims too large")  # server id or version out of bounds: a bug
        return session_id, session

    def _encode(self, claims: dict[str, Any]) -> str:
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{_PREFIX}.{payload}.{self._sign(payload)}"

    def verify(self, session_id: str, server_id: str, *, now: float | None = None) -> Session:
        """The claims of a validly signed, unexpired session id of `server_id`, or SessionError."""
        parts = session_id.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise SessionError("malformed session id")
        _, payload, signature = parts
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise SessionError("bad session signature")
        try:
            claims = json.loads(_unb64(payload))
            # Ids issued before the claims were trimmed carry the whole capabilities as "cc".
            flags = claims["f"] if "f" in claims else _flags(claims.get("cc"))
            session = Session(
                nonce=str(claims["n"]),
                server_id=str(claims["s"]),
                protocol_version=str(claims["v"]),
                issued_at=float(claims["iat"]),
                expires_at=float(claims["exp"]),
                client_capabilities={str(flag): {} for flag in flags if flag in USED_CAPABILITIES},
                client_name=str(claims.get("c") or ""),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SessionError("malformed session claims") from exc
        current = time.time() if now is None else now
        if session.expires_at <= current:
            raise SessionError("session expired")
        if not hmac.compare_digest(session.server_id, server_id):
            raise SessionError("session belongs to another server")
        return session

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


class SessionStore:
    """Sessions as the transports see them: the codec plus the shared ended/level record."""

    def __init__(self, codec: SessionCodec, state: FacadeState) -> None:
        self.codec = codec
        self._state = state

    def issue(
        self,
        server_id: str,
        protocol_version: str,
        client_capabilities: dict[str, Any],
        client_info: dict[str, Any],
    ) -> tuple[str, Session]:
        """A new signed session id and its claims."""
        return self.codec.issue(server_id, protocol_version, client_capabilities, client_info)

    async def open(self, session_id: str, server_id: str) -> tuple[Session, str | None]:
        """A live session of `server_id` and its logging level (one state lookup), or SessionError."""
        session = self.codec.verify(session_id, server_id)
        ended, level = await self._state.session_state(session.nonce)
        if ended:
            raise SessionError("session ended")
        return session, level

    async def end(self, session: Session) -> None:
        """Mark the session ended on every replica (DELETE); raises StateUnavailable."""
        await self._state.end_session(session.nonce, session.expires_at)

    async def set_level(self, session: Session, level: str) -> None:
        """Record the session's logging level for every replica; raises StateUnavailable."""
        await self._state.set_session_level(session.nonce, level, session.expires_at)

    async def level(self, session: Session | None) -> str | None:
        """The session's logging level (None: send no log notifications)."""
        if session is None:
            return None
        return (await self._state.session_state(session.nonce))[1]
