"""Origin and Host checks (DNS-rebinding protection) for the public MCP port and the admin port.

- A present `Origin` must be in `allowed_origins` (exact match), else 403. A missing
  one is fine: Claude's connector calls come server-side.
- `Host` must be in `allowed_hosts` when that list is set. When it is empty and the
  server is bound to loopback, only loopback names pass (a rebinding page on another
  name cannot reach a local server); otherwise any well-formed Host passes.

Host values are parsed strictly as `host[:port]` (RFC 9110 / RFC 3986 authority without
userinfo): a reg-name, an IPv4 address or a bracketed IPv6 address, then an optional
decimal port. Anything else (`127.0.0.1:80@evil.com`, `a:b:c`, a path) is malformed and
refused; it is never cut at a separator and then compared.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from typing import Final

from gumloop_mcp.runtime import is_loopback_host

__all__ = ["HostPolicy", "is_loopback_host", "origin_host", "parse_host"]

# reg-name restricted to DNS-style labels (letters, digits, '-', '_', '.'): what a browser sends.
_REG_NAME: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_.])?")
_PORT: Final = re.compile(r"[0-9]{0,5}")  # RFC 3986 allows an empty port
_ORIGIN: Final = re.compile(r"(https?)://([^/?#]*)")


def parse_host(value: str) -> str | None:
    """The lower-cased name of a `host[:port]` value (IPv6 kept in brackets), or None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return None
    else:
        name, sep, port = value.partition(":")
        rest = f"{sep}{port}"
        if not _REG_NAME.fullmatch(name):
            return None
    if rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:]) and int(rest[1:] or 0) <= 65535):
        return None
    return name


def origin_host(origin: str) -> str | None:
    """The host name of an `http(s)://host[:port]` origin, or None when it is not of that form."""
    match = _ORIGIN.fullmatch(origin.strip().lower().rstrip("/"))
    return parse_host(match.group(2)) if match else None


_MAX_HOST_VERDICTS: Final = 256


class HostPolicy:
    """Decides whether a request's Origin and Host are acceptable."""

    def __init__(self, allowed_origins: Sequence[str], allowed_hosts: Sequence[str], bind_host: str) -> None:
        self._origins = {o.rstrip("/").lower() for o in allowed_origins}
        self._hosts = {h.lower() for h in allowed_hosts}
        self._loopback_only = not self._hosts and is_loopback_host(bind_host)
        # Host header -> verdict: clients send the same one on every request, and parsing it as an
        # address cost ~6 us each time. Bounded (least recently used goes): the header is the client's.
        self._host_verdicts = functools.lru_cache(maxsize=_MAX_HOST_VERDICTS)(self._judge_host)

    def origin_ok(self, origin: str | None) -> bool:
        """A missing Origin passes; a present one must be allowed (loopback origins pass on loopback)."""
        if origin is None:
            return True
        normalized = origin.rstrip("/").lower()
        if normalized in self._origins:
            return True
        if self._loopback_only and not self._origins:
            name = origin_host(normalized)
            return name is not None and is_loopback_host(name)
        return False

    def cors_origin(self, origin: str | None) -> str | None:
        """The Origin to echo in CORS headers: only explicitly allow-listed ones (browser clients)."""
        if origin is None or origin.rstrip("/").lower() not in self._origins:
            return None
        return origin

    def host_ok(self, host: str | None) -> bool:
        """Whether the Host header is acceptable (a malformed one never is)."""
        if not host:
            return not self._hosts and not self._loopback_only
        return self._host_verdicts(host)

    def _judge_host(self, host: str) -> bool:
        name = parse_host(host)
        if name is None:
            return False
        if self._hosts:
            return host.strip().lower() in self._hosts or name in self._hosts
        if self._loopback_only:
            return is_loopback_host(name)
        return True
