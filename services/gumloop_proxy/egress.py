"""Where the proxy may send requests: never to cloud metadata endpoints unless told to.

The proxy sends what its callers ask to hosts an account names (its base URLs) and to hosts an
upstream answer names (signed artifact links), and hands the answer back. Pointed at a cloud
metadata service (169.254.169.254 and friends) that is a credential theft: instance roles,
service-account tokens. So, unless `allow_link_local_upstream` is set:

- account base URLs naming a link-local address or a metadata host name are refused at creation
  (`refusal()`), and with `upstream_allowed_hosts` set, any host outside that list;
- the upstream transport refuses to connect to a link-local or metadata address, whether the URL
  names it or a host name resolves to it (`GuardedResolver`), so DNS cannot route around the check.

Loopback and private addresses stay allowed: the bundled emulator and in-cluster Gumloop
stand-ins live there. Artifact links add their own rule (servicer): an IP-literal host that is
not public is only fetched when it is one of the account's own hosts or explicitly allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Final

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

__all__ = ["GuardedResolver", "blocked_address", "is_public_ip_literal", "refusal"]

# Metadata services outside the link-local ranges, and the names clouds give them.
_METADATA_ADDRESSES: Final = frozenset(
    {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
)
_METADATA_NAMES: Final = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# Asked before every upstream request, for the few hosts the accounts name: parsing each as an address
# (and failing, for names) cost ~4 us a request.
@functools.lru_cache(maxsize=256)
def blocked_address(host: str) -> bool:
    """True for a link-local or known metadata address (IPv4, IPv6 or IPv4-mapped IPv6)."""
    address = _ip(host)
    return address is not None and (address.is_link_local or address in _METADATA_ADDRESSES)


def is_public_ip_literal(host: str) -> bool | None:
    """None when `host` is a name; else whether the address is globally routable."""
    address = _ip(host)
    return None if address is None else address.is_global


def refusal(host: str, allowed_hosts: list[str], allow_link_local: bool) -> str | None:
    """Why an account may not use `host` as a base URL host, or None when it may."""
    name = host.lower().rstrip(".")
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if allowed and name not in allowed:
        return "names a host outside GMCP_PROXY_UPSTREAM_ALLOWED_HOSTS"
    if not allow_link_local and (name in _METADATA_NAMES or blocked_address(name)):
        return (
            "names a link-local or cloud metadata address; set GMCP_PROXY_ALLOW_LINK_LOCAL_UPSTREAM=true "
            "if that is really your Gumloop"
        )
    return None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver minus link-local and metadata addresses (OSError when nothing is left)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of `host` that are neither link-local nor metadata services."""
        if host.lower().rstrip(".") in _METADATA_NAMES:
            raise OSError(f"refusing to connect to {host}: a cloud metadata host")
        results = [r for r in await self._inner.resolve(host, port, family) if not blocked_address(r["host"])]
        if not results:
            raise OSError(f"refusing to connect to {host}: it resolves to a link-local or metadata address")
        return results

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()
