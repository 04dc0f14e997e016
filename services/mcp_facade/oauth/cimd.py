"""Client ID Metadata Documents (MCP authorization, 2025-11-25; draft-ietf-oauth-client-id-metadata-document).

A client may use, instead of a registered client_id, an https URL that serves its metadata as JSON.
The document is fetched when the client first shows up and cached (GMCP_FACADE_OAUTH_CIMD_CACHE_TTL_S):

- the URL is https with a path, no fragment, no user info, no dot segments, at most 1000 characters;
  its host must resolve to public addresses only (no fetches into the façade's own network), and
  the fetch connects to the address that was checked (the Host header and TLS server name stay the
  URL's host, so the certificate is verified for it): a DNS answer that changes between the check and
  the connection (rebinding) cannot steer the fetch elsewhere;
- the fetch follows no redirects, gives up after 5 s and reads at most 16 KiB;
- the document is a JSON object whose `client_id` equals the URL exactly, whose `redirect_uris`
  are all allowed (redirects.py), and whose client authenticates with `none` (a document has no
  secret to share);
- a failure is a `ClientMetadataError` with a reason the person or client can act on.

Only for tests and local development (GMCP_FACADE_OAUTH_CIMD_ALLOW_LOOPBACK_HTTP): also
`http://127.0.0.1`, `http://[::1]` and `http://localhost` URLs, and loopback addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from collections import OrderedDict
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from .redirects import RedirectPolicy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = ["ClientMetadataError", "ClientMetadataFetcher", "ClientMetadataDocument"]

_MAX_URL_CHARS: Final = 1000
_MAX_BYTES: Final = 16 * 1024
_TIMEOUT_S: Final = 5.0
_MAX_CACHED: Final = 1000
_MAX_NAME_CHARS: Final = 200
_MAX_REDIRECT_URIS: Final = 10
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class ClientMetadataError(Exception):
    """A client_id URL whose metadata document cannot be used (the message says why)."""


class ClientMetadataDocument:
    """What the authorization server keeps of a fetched document."""

    __slots__ = ("client_id", "client_name", "redirect_uris")

    def __init__(self, client_id: str, client_name: str, redirect_uris: tuple[str, ...]) -> None:
        self.client_id = client_id
        self.client_name = client_name
        self.redirect_uris = redirect_uris


class ClientMetadataFetcher:
    """Fetches, checks and caches client metadata documents."""

    def __init__(self, redirects: RedirectPolicy, *, allow_loopback_http: bool, cache_ttl_s: float) -> None:
        self._redirects = redirects
        self._allow_loopback = allow_loopback_http
        self._ttl_s = cache_ttl_s
        self._cache: OrderedDict[str, tuple[float, ClientMetadataDocument]] = OrderedDict()

    def is_metadata_url(self, client_id: str) -> bool:
        """Whether a client_id names a metadata document (rather than a registered client)."""
        return client_id.startswith("https://") or (self._allow_loopback and client_id.startswith("http://"))

    async def document(self, url: str) -> ClientMetadataDocument:
        """The checked document at `url` (cached), or ClientMetadataError."""
        now = time.monotonic()
        cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        document = await self._fetch(url)
        if self._ttl_s > 0:
            self._cache[url] = (time.monotonic() + self._ttl_s, document)
            self._cache.move_to_end(url)
            while len(self._cache) > _MAX_CACHED:
                self._cache.popitem(last=False)
        return document

    def _check_url(self, url: str) -> tuple[str, int]:
        if len(url) > _MAX_URL_CHARS:
            raise ClientMetadataError(f"the client_id URL is longer than {_MAX_URL_CHARS} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ClientMetadataError("the client_id URL is malformed") from None
        host = parts.hostname or ""
        loopback_http = self._allow_loopback and parts.scheme == "http" and host in _LOOPBACK_HOSTS
        if parts.scheme != "https" and not loopback_http:
            raise ClientMetadataError("a client_id URL must use https")
        if not host or "@" in parts.netloc or parts.fragment:
            raise ClientMetadataError("a client_id URL must have a host and no user info or fragment")
        segments = parts.path.split("/")
        if parts.path in ("", "/") or "." in segments or ".." in segments:
            raise ClientMetadataError("a client_id URL must have a path, without . or .. segments")
        return host, port or (443 if parts.scheme == "https" else 80)

    async def _checked_address(self, host: str, port: int) -> IPAddress:
        """The address to connect to: every address `host` resolves to must be public (no fetch into
        the façade's network); the first is the one the fetch then uses."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise ClientMetadataError(f"the client_id URL's host {host!r} does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise ClientMetadataError(f"the client_id URL's host {host!r} does not resolve")
        for address in addresses:
            if not (address.is_global or (self._allow_loopback and address.is_loopback)):
                raise ClientMetadataError(f"the client_id URL's host {host!r} is not a public address")
        return addresses[0]

    async def _fetch(self, url: str) -> ClientMetadataDocument:
        host, port = self._check_url(url)
        address = await self._checked_address(host, port)
        parsed = httpx.URL(url)
        pinned = parsed.copy_with(host=str(address))
        headers = {"Accept": "application/json", "Host": parsed.netloc.decode("ascii")}
        try:
            async with (
                httpx.AsyncClient(timeout=_TIMEOUT_S, follow_redirects=False) as http,
                http.stream("GET", pinned, headers=headers, extensions={"sni_hostname": host}) as response,
            ):
                if response.status_code != 200:
                    raise ClientMetadataError(
                        f"the client metadata document answered HTTP {response.status_code} (redirects are "
                        "not followed)"
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_BYTES:
                        raise ClientMetadataError(f"the client metadata document exceeds {_MAX_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise ClientMetadataError(
                f"the client metadata document could not be fetched: {type(exc).__name__}"
            ) from None
        try:
            metadata = json.loads(bytes(body))
        except (ValueError, RecursionError):
            raise ClientMetadataError("the client metadata document is not JSON") from None
        return self._checked(url, metadata)

    def _checked(self, url: str, metadata: Any) -> ClientMetadataDocument:
        if not isinstance(metadata, dict):
            raise ClientMetadataError("the client metadata document is not a JSON object")
        if metadata.get("client_id") != url:
            raise ClientMetadataError("the client metadata document's client_id is not its own URL")
        uris = metadata.get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > _MAX_REDIRECT_URIS:
            raise ClientMetadataError(f"redirect_uris must be a list of 1 to {_MAX_REDIRECT_URIS} URIs")
        for uri in uris:
            if not isinstance(uri, str) or not self._redirects.allowed(uri):
                raise ClientMetadataError(f"redirect URI {str(uri)[:200]!r} is not allowed by this server")
        method = metadata.get("token_endpoint_auth_method", "none")
        if method != "none":
            raise ClientMetadataError(
                "token_endpoint_auth_method must be none for a metadata document client"
            )
        for field, allowed in (
            ("grant_types", {"authorization_code", "refresh_token"}),
            ("response_types", {"code"}),
        ):
            value = metadata.get(field)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) and v in allowed for v in value)
            ):
                raise ClientMetadataError(f"{field} may only hold {', '.join(sorted(allowed))}")
        name = metadata.get("client_name", "")
        if not isinstance(name, str) or len(name) > _MAX_NAME_CHARS:
            raise ClientMetadataError(f"client_name must be a string of at most {_MAX_NAME_CHARS} characters")
        return ClientMetadataDocument(url, name.strip(), tuple(uris))
