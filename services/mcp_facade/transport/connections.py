"""Connection bounds of one HTTP port: a connection limit and a header timeout.

aiohttp keeps a connection that never finishes its request headers until its keep-alive
timeout, and accepts connections until the process runs out of file descriptors (then
asyncio logs an error per failed accept). `GuardedSite` listens like `web.TCPSite`, but
wraps aiohttp's protocol in `_Guarded`, which

- counts the port's open connections; above `limit` a new connection is answered
  `503` with a JSON-RPC error body and `Retry-After`, then closed (`_Refused`);
- closes a connection whose first request headers have not arrived `header_timeout_s`
  after it opened (`408`), as told by `ConnectionGuard.middleware()`, which sees every
  request start. Later requests on a kept-alive connection are bounded by aiohttp's
  `keepalive_timeout`, which closes a connection still waiting for a whole request then.

`body_deadline_middleware()` reads a request body within `body_timeout_s` (408 beyond) for
apps whose handlers read bodies themselves (the admin port; the MCP handlers time their own
reads, app.read_body, after authorising the request).

Each trip counts in `gmcp_facade_limit_tripped_total{limit="connections"|"header_timeout"|
"body_timeout"}`.
`fd_limit()` raises the soft file-descriptor limit as far as needed (and allowed), so
that the connection limits stay below it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler

from ..metrics import FacadeMetrics
from ..protocol.jsonrpc import INTERNAL_ERROR, JsonRpcError, error_response

__all__ = ["FD_RESERVE", "ConnectionGuard", "GuardedSite", "fd_limit"]

logger = logging.getLogger(__name__)

# Descriptors kept for everything but client connections: gRPC channels, Redis, logs, refusals.
FD_RESERVE: Final = 256
# Refused connections kept open for a moment so the 503 reaches the client (see _Refused);
# beyond this many at once, a refused connection is closed at once.
_MAX_LINGERING: Final = 64
_LINGER_S: Final = 1.0


def _raw_response(status: str, message: str, code: int, retry_after: int | None) -> bytes:
    body = json.dumps(error_response(None, JsonRpcError(code, message))).encode()
    head = [
        f"HTTP/1.1 {status}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def fd_limit(wanted: int) -> int:
    """The soft RLIMIT_NOFILE, first raised towards `wanted` (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            logger.warning("could not raise the file-descriptor limit from %d to %d", soft, target)
    return int(soft) if soft != resource.RLIM_INFINITY else wanted


class ConnectionGuard:
    """One port's open-connection count, limit and header timeout (see the module docstring)."""

    def __init__(
        self, port_name: str, limit: int, header_timeout_s: float, metrics: FacadeMetrics | None = None
    ) -> None:
        self.port_name = port_name
        self.limit = limit
        self.header_timeout_s = header_timeout_s
        self._metrics = metrics
        self.open = 0
        self.lingering = 0
        # Connections whose first request has not started yet, by aiohttp protocol.
        self._waiting: dict[RequestHandler, _Guarded] = {}
        self.refused_body = _raw_response(
            "503 Service Unavailable",
            "Service Unavailable: too many open connections; retry shortly",
            INTERNAL_ERROR,
            retry_after=1,
        )
        self.timeout_body = _raw_response(
            "408 Request Timeout",
            f"Request Timeout: the request headers did not arrive within {header_timeout_s:g} seconds",
            INTERNAL_ERROR,
            retry_after=None,
        )

    def protocol_factory(self, server: web.Server) -> Callable[[], asyncio.Protocol]:
        """What `loop.create_server` calls for each accepted connection."""

        def make() -> asyncio.Protocol:
            if self.open >= self.limit:
                return _Refused(self)
            return _Guarded(self, server())

        return make

    def middleware(self) -> Middleware:
        """Marks a connection's first request as started (its headers arrived): no header timeout."""

        @web.middleware
        async def started(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            guarded = self._waiting.pop(request.protocol, None)
            if guarded is not None:
                guarded.headers_arrived()
            return await handler(request)

        return started

    def body_deadline_middleware(self, timeout_s: float) -> Middleware:
        """Reads each request's body (cached for the handler) within `timeout_s`, else 408."""

        @web.middleware
        async def deadline(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if request.body_exists:
                try:
                    async with asyncio.timeout(timeout_s):
                        await request.read()
                except TimeoutError:
                    self.tripped("body_timeout")
                    error = error_response(
                        None,
                        JsonRpcError(
                            INTERNAL_ERROR,
                            f"Request Timeout: the body did not arrive within {timeout_s:g} seconds",
                        ),
                    )
                    return web.json_response(error, status=408, headers={"Connection": "close"})
            return await handler(request)

        return deadline

    def tripped(self, limit: str) -> None:
        """Count one trip of `limit` on this port."""
        if self._metrics is not None:
            self._metrics.tripped(limit, self.port_name)

    def _opened(self, guarded: _Guarded) -> None:
        self.open += 1
        self._waiting[guarded.handler] = guarded
        if self._metrics is not None:
            self._metrics.connections.labels(self.port_name).inc()

    def _closed(self, guarded: _Guarded) -> None:
        self.open -= 1
        self._waiting.pop(guarded.handler, None)
        if self._metrics is not None:
            self._metrics.connections.labels(self.port_name).dec()


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted and with a deadline for its first headers."""

    def __init__(self, guard: ConnectionGuard, handler: RequestHandler) -> None:
        self.guard = guard
        self.handler = handler
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not an asyncio.Transport instance under uvloop (no isinstance check).
        self._transport = cast(asyncio.Transport, transport)
        self.guard._opened(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.guard.header_timeout_s, self._headers_late)
        self.handler.connection_made(transport)

    def headers_arrived(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self.guard.tripped("header_timeout")
        transport.write(self.guard.timeout_body)
        transport.close()

    def data_received(self, data: bytes) -> None:
        self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        self.handler.eof_received()
        return None

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.headers_arrived()
        self._transport = None
        self.guard._closed(self)
        self.handler.connection_lost(exc)


class _Refused(asyncio.Protocol):
    """A connection over the limit: answered 503, read and discarded for a moment, then closed.

    Closing with the request still unread would make the kernel reset the connection, and
    the client might never see the 503; lingering briefly lets it arrive.
    """

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self._timer: asyncio.TimerHandle | None = None
        self._lingering = False

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)  # uvloop's is no asyncio.Transport instance
        self.guard.tripped("connections")
        transport.write(self.guard.refused_body)
        if self.guard.lingering >= _MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        self.guard.lingering += 1
        transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not served

    def eof_received(self) -> bool | None:
        return False  # the client is done too: close now

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._lingering:
            self.guard.lingering -= 1
            self._lingering = False


class GuardedSite(web.BaseSite):
    """A TCP site like `web.TCPSite` whose connections pass through a `ConnectionGuard`."""

    __slots__ = ("_bound_port", "_guard", "_host", "_port")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard
        self._bound_port: int | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._bound_port if self._bound_port is not None else self._port

    async def start(self) -> None:
        await super().start()
        server: Any = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.protocol_factory(server), self._host, self._port, backlog=self._backlog
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
