"""Which redirect URIs a client may register: an allow-list plus loopback for local clients.

The allow-list (GMCP_FACADE_OAUTH_REDIRECT_URIS) is compared exactly; by default it holds Claude's
two connector callbacks. A loopback URI (`http://127.0.0.1`, `http://[::1]`, `http://localhost`,
any port and path; RFC 8252 7.3) is always accepted, for clients on the person's own machine. A
URI with a fragment or user info never is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

__all__ = ["CLAUDE_CALLBACKS", "RedirectPolicy"]

CLAUDE_CALLBACKS: Final = (
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
)
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class RedirectPolicy:
    """Decides whether a redirect URI may be registered."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self._allowed = frozenset(allowed)

    def allowed(self, uri: str) -> bool:
        """Whether `uri` is on the allow-list or a loopback http URI."""
        if len(uri) > 2000:
            return False
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            return False
        if parts.fragment or "@" in parts.netloc:
            return False
        if uri in self._allowed:
            return True
        return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
