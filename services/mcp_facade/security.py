"""Origin and Host checks (DNS-rebinding protection) for the public MCP endpoint.

- A present `Origin` must be in `allowed_origins` (exact match), else 403. A missing
  one is fine: Claude's connector calls come server-side.
- `Host` must be in `allowed_hosts` when that list is set. When it is empty and the
  server is bound to loopback, only loopback names pass (a rebinding page on another
  name cannot reach a local server); otherwise any Host passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from gumloop_mcp.runtime import is_loopback_host

__all__ = ["HostPolicy", "is_loopback_host"]


def _hostname(host_header: str) -> str:
    """The name part of a Host header value (without port), lower-cased."""
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end != -1 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostPolicy:
    """Decides whether a request's Origin and Host are acceptable."""

    def __init__(self, allowed_origins: Sequence[str], allowed_hosts: Sequence[str], bind_host: str) -> None:
        self._origins = {o.rstrip("/").lower() for o in allowed_origins}
        self._hosts = {h.lower() for h in allowed_hosts}
        self._loopback_only = not self._hosts and is_loopback_host(bind_host)

    def origin_ok(self, origin: str | None) -> bool:
        """A missing Origin passes; a present one must be allowed (loopback origins pass on loopback)."""
        if origin is None:
            return True
        normalized = origin.rstrip("/").lower()
        if normalized in self._origins:
            return True
        if self._loopback_only and not self._origins and normalized != "null":
            return is_loopback_host(_hostname(urlsplit(normalized).netloc))
        return False

    def cors_origin(self, origin: str | None) -> str | None:
        """The Origin to echo in CORS headers: only explicitly allow-listed ones (browser clients)."""
        if origin is None or origin.rstrip("/").lower() not in self._origins:
            return None
        return origin

    def host_ok(self, host: str | None) -> bool:
        """Whether the Host header is acceptable."""
        if not host:
            return not self._hosts and not self._loopback_only
        if self._hosts:
            return host.lower() in self._hosts or _hostname(host) in self._hosts
        if self._loopback_only:
            return is_loopback_host(_hostname(host))
        return True
