"""The wire under the upstream httpx client: aiohttp's HTTP/1.1 connection pool.

httpx keeps its API (requests, responses, timeouts, errors, decoding) and every caller is unchanged;
only the connection layer differs. httpcore on anyio cost about 0.4 ms of CPU per request on
loopback (a quarter of a light call's time in the proxy), aiohttp's C parser a fraction of that.

Kept as httpx does it: TLS verification with httpx's context (certifi, or SSL_CERT_FILE/DIR),
no redirects followed, no compression undone here (httpx decodes), per-phase timeouts from the
request (connect, pool + connect, read between chunks), and every failure raised as the httpx
exception of the same kind, with a message that never carries the URL (signed download links
carry their signature in the query). Proxies from the environment are httpx's business: with
HTTP(S)_PROXY/ALL_PROXY set, `default_transport()` returns None and httpx keeps its own transport.

Egress (egress.py): unless `allow_link_local` is set, no connection is opened to a link-local or
cloud metadata address, named literally in the URL or reached through DNS (httpx.ConnectError).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
import httpx

from .egress import GuardedResolver, blocked_address

__all__ = ["AiohttpTransport", "BodyTooLarge", "default_transport"]

# h11 accepts up to ~100 KB of response head; aiohttp's defaults (8 KB lines) would refuse a large
# but legal header (a long Content-Security-Policy or Set-Cookie) that httpcore accepted.
_MAX_LINE: Final = 64 * 1024
_MAX_FIELD: Final = 64 * 1024
_READ_BUFSIZE: Final = 64 * 1024
# Hop-by-hop or body-framing headers aiohttp derives itself from the bytes it sends.
_DROP: Final = frozenset({"content-length", "transfer-encoding"})


class BodyTooLarge(Exception):
    """An answer's body passed the caller's byte ceiling; the connection was dropped."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


def default_transport(
    max_connections: int, keepalive_expiry: float, *, allow_link_local: bool = False
) -> AiohttpTransport | None:
    """The aiohttp transport, or None when the environment names a proxy (httpx then routes)."""
    # The variables httpx reads (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, in either case).
    if any(urllib.request.getproxies().get(scheme) for scheme in ("http", "https", "all")):
        return None
    return AiohttpTransport(
        max_connections=max_connections, keepalive_expiry=keepalive_expiry, allow_link_local=allow_link_local
    )


def _translate(exc: Exception, request: httpx.Request, connecting: bool) -> httpx.TransportError:
    """The httpx exception for an aiohttp failure; the message names the failure, never the URL."""
    kind = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError) or (connecting and isinstance(exc, TimeoutError)):
        return httpx.ConnectTimeout(f"connecting timed out ({kind})", request=request)
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(f"reading the answer timed out ({kind})", request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        # "Cannot connect to host h:p ssl:... [reason]": host and port, no path or query.
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError("the server closed the connection early", request=request)
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return httpx.RemoteProtocolError(f"malformed HTTP answer ({kind})", request=request)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(f"{kind}: {exc.strerror or exc.errno}", request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(f"invalid URL ({kind})", request=request)
    return httpx.NetworkError(f"HTTP request failed ({kind})", request=request)


def _extensions(response: aiohttp.ClientResponse) -> dict[str, object]:
    return {"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()}


async def _read_bounded(response: aiohttp.ClientResponse, max_bytes: int | None) -> bytes:
    """The whole body, or BodyTooLarge as soon as it (or its declared length) passes `max_bytes`."""
    if max_bytes is None:
        return await response.read()
    if response.content_length is not None and response.content_length > max_bytes:
        raise BodyTooLarge(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


class _Body(httpx.AsyncByteStream):
    """An aiohttp response body as httpx's stream; closing it releases or drops the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(exc, self._request, connecting=False) from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # fully read: the connection goes back to the pool
        else:
            self._response.close()  # abandoned mid-body: the connection cannot be reused


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport sending HTTP/1.1 through one aiohttp session (created on first use)."""

    def __init__(
        self, *, max_connections: int, keepalive_expiry: float, allow_link_local: bool = False
    ) -> None:
        self._max_connections = max_connections
        self._allow_link_local = allow_link_local
        self._keepalive_expiry = keepalive_expiry
        self._ssl: ssl.SSLContext = httpx.create_ssl_context(trust_env=True)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=self._keepalive_expiry,
                ssl=self._ssl,
                resolver=None if self._allow_link_local else GuardedResolver(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                # httpx already set Accept, Accept-Encoding, User-Agent and Host; add nothing.
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=False,
                read_bufsize=_READ_BUFSIZE,
                max_line_size=_MAX_LINE,
                max_field_size=_MAX_FIELD,
            )
        return self._session

    async def _open(self, request: httpx.Request) -> aiohttp.ClientResponse:
        """Send `request`; the answer with its body still to read."""
        limits = request.extensions.get("timeout", {})
        connect = limits.get("connect")
        pool = limits.get("pool")
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=limits.get("read"),
        )
        host = request.url.host
        if not self._allow_link_local and blocked_address(host):
            # IP literals never reach the resolver, so they are checked here.
            raise httpx.ConnectError(
                f"refusing to connect to {host}: a link-local or cloud metadata address", request=request
            )
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _DROP]
        try:
            return await self._client().request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            connecting = not isinstance(exc, aiohttp.SocketTimeoutError)
            raise _translate(exc, request, connecting=connecting) from exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request`; the answer's body streams from the connection."""
        response = await self._open(request)
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions=_extensions(response),
        )

    async def fetch(self, request: httpx.Request, max_bytes: int | None = None) -> httpx.Response:
        """Send `request` and read the whole answer, decoded by httpx as `client.send()` would.

        For a client without auth, redirects, event hooks or cookies this returns what
        `client.send(request)` does once the body is read, without httpx's per-request layers
        (~0.1-0.2 ms on loopback).
        """
        response = await self._open(request)
        try:
            content = await _read_bounded(response, max_bytes)
        except (aiohttp.ClientError, TimeoutError) as exc:
            response.close()
            raise _translate(exc, request, connecting=False) from exc
        except BodyTooLarge:
            response.close()  # not read to the end: the connection cannot be reused
            raise
        finally:
            response.release()
        # stream=, not content=: httpx would add a Content-Length the server did not send.
        answer = httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=httpx.ByteStream(content),
            request=request,
            extensions=_extensions(response),
        )
        answer.read()  # undoes Content-Encoding exactly as httpx does for client.send()
        if max_bytes is not None and len(answer.content) > max_bytes:
            raise BodyTooLarge(max_bytes)  # a compressed body that decodes past the ceiling
        return answer

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None
