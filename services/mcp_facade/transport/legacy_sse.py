"""The HTTP+SSE transport (2024-11-05), still used by some clients.

GET `/mcp/{token}/sse` opens a stream whose first event is `endpoint`, naming the
POST URL `/mcp/{token}/messages?session_id=<id>`. Each POST is answered 202 and
the JSON-RPC response travels on the stream as an `event: message`.

The stream and its queue live in the replica that accepted the GET (its owner), but
the POSTs may land on any replica: the owner announces the stream in the shared
state (`claim_stream`: server id and owner replica, refreshed with the keepalive, so a
dead owner's claim expires), and a replica that does not hold the stream checks that
claim (404 when absent or another server's, as for an unknown local stream), relays
the raw message to the owner (`sse-post` message, after its own token check and JSON
parse) and answers 202, or 404 when the owner no longer listens. The owner handles a
relayed message exactly like a local POST, with the scope its own token cache
resolves for the stream's token (the token itself never leaves the process).

Bounds (settings): a stream holds at most `sse_max_inflight` requests in progress (a POST
beyond gets 429), and at most `sse_buffer_bytes` of events its client has not read yet: a
client that stops reading while posting is cut off (metric limit "sse_buffer") instead of
growing the façade's memory. Each stream takes a slot of its MCP server and of its client
address (app.stream_slot: 429 beyond).

The owner also holds the stream in live.py: when its record is revoked or expires (every
replica watches revocations itself), the stream ends, its pending requests are cancelled and
its claim is released, so POSTs on any replica get 404. It also ends at the token's expiry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from gumloop_mcp.runtime import Clock

from ..contracts import ServerScope
from ..protocol.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    RATE_LIMITED,
    JsonRpcError,
    Message,
    as_object,
    error_response,
    parse_body,
    parse_message,
    result_response,
)
from ..protocol.live import LiveWork, SecondFactor
from ..protocol.protocol import LEGACY_SSE_VERSIONS, Exchange, Protocol, RequestCancelled
from ..protocol.sessions import Session
from ..state.state import FacadeState, StateUnavailable
from . import gate
from .accesslog import RPC_METHOD, SESSION
from .auth import BackendUnavailable, NotFound, Resolved
from .limits import limited
from .streams import SseStreams, Tripped

__all__ = ["LegacySse", "LegacySseNeeds", "SseConnection"]

logger = logging.getLogger(__name__)

_KEEPALIVE_S: Final = 15.0
# A stream's claim outlives a few missed refreshes, and no more: then POSTs elsewhere get 404.
_CLAIM_TTL_S: Final = 3 * _KEEPALIVE_S
_RELAYED: Final = "sse-post"


def _state_unavailable() -> web.Response:
    """503 for a POST that cannot reach the replica holding its stream (shared state down)."""
    error = JsonRpcError(
        INTERNAL_ERROR, "The SSE session cannot be reached right now (shared state unavailable)"
    )
    return web.json_response(error_response(None, error), status=503, headers={"Retry-After": "1"})


@dataclass(slots=True)
class SseConnection:
    """One open HTTP+SSE stream."""

    conn_id: str
    server_id: str
    # The URL token the stream was opened with: kept in memory only, to resolve the current
    # scope of messages relayed from other replicas.
    token: str = field(repr=False, default="")
    # The second-factor API token the stream was opened with (None when none was asked).
    second_factor: SecondFactor | None = field(default=None, repr=False)
    # Encoded events waiting to be written (None ends the stream), `buffered` bytes in all.
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    session: Session | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    buffered: int = 0
    buffer_limit: int = 4 * 1024 * 1024
    # Called once when an event does not fit in `buffer_limit`: the client is not reading.
    on_overflow: Callable[[], None] | None = field(default=None, repr=False)
    overflowed: bool = False

    def push(self, item: dict[str, Any]) -> bool:
        """Queue one event for the client; False (and the stream is being cut) when it does not fit."""
        if self.overflowed:
            return False
        frame = f"event: message\ndata: {json.dumps(item)}\n\n".encode()
        if self.buffered and self.buffered + len(frame) > self.buffer_limit:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()
            return False
        self.buffered += len(frame)
        self.queue.put_nowait(frame)
        return True

    async def next_frame(self, timeout: float) -> bytes | None:
        """The next event to write (None: end the stream); TimeoutError when none came in `timeout`."""
        frame = await asyncio.wait_for(self.queue.get(), timeout)
        if frame is not None:
            self.buffered -= len(frame)
        return frame

    def end(self) -> None:
        """Ask the stream to end after the events already queued."""
        self.queue.put_nowait(None)


@dataclass(frozen=True, slots=True)
class LegacySseNeeds:
    """What the HTTP+SSE transport uses of the app (wired in app.create_public_app)."""

    protocol: Protocol
    live: LiveWork
    streams: SseStreams
    # Stream claims and the relay of POSTs between replicas.
    state: FacadeState
    # The current record of a stream's URL token (for messages relayed from another replica).
    resolve: Callable[[str], Awaitable[Resolved]]
    tripped: Tripped
    sse_buffer_bytes: int
    sse_max_inflight: int
    # The stream's token expiry is read on it.
    clock: Clock


class LegacySse:
    """Handlers for the HTTP+SSE transport, behind the gate (gate.py)."""

    def __init__(self, needs: LegacySseNeeds) -> None:
        self._needs = needs
        self.connections: dict[str, SseConnection] = {}
        needs.state.on_message(_RELAYED, self._on_relayed)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """GET /mcp/{token}/sse (and GET /mcp/{token} of an HTTP+SSE client, via streamable_http)."""
        resolved = gate.resolved(request)
        with self._needs.streams.slot(request, resolved.scope.server_id):
            return await self._stream(request, resolved)

    def _overflowed(self, request: web.Request, conn: SseConnection) -> None:
        """The client stopped reading its stream while posting: cut the connection at once."""
        self._needs.tripped("sse_buffer")
        logger.warning(
            "HTTP+SSE client does not read its stream (over %d bytes waiting): stream closed",
            conn.buffer_limit,
        )
        self.connections.pop(conn.conn_id, None)  # later POSTs get 404 at once
        transport = request.transport
        if transport is not None:
            transport.abort()  # close() would wait for the unread buffer to drain, forever
        conn.end()

    async def _stream(self, request: web.Request, resolved: Resolved) -> web.StreamResponse:
        token = request.match_info["token"]
        conn = SseConnection(
            secrets.token_urlsafe(18),
            resolved.scope.server_id,
            token,
            second_factor=resolved.second_factor,
            buffer_limit=self._needs.sse_buffer_bytes,
        )
        conn.on_overflow = lambda: self._overflowed(request, conn)
        request[SESSION] = conn.conn_id[:8]
        loop = asyncio.get_running_loop()
        response = self._needs.streams.response()
        self.connections[conn.conn_id] = conn
        hold = self._needs.live.hold(
            conn.server_id, token, lambda _: conn.end(), second_factor=conn.second_factor
        )

        async def push(note: dict[str, Any]) -> None:  # resource updates (protocol.attach_stream)
            conn.push(note)

        detach = self._needs.protocol.attach_stream(conn.conn_id, push, ends_watches=True)
        # Everything after registering is inside the try: a client that leaves during the claim or
        # the prepare cancels this handler, and the finally must still release what was taken.
        try:
            await self._claim(conn)
            claimed = loop.time()
            await response.prepare(request)
            self._needs.streams.opened(response)
            endpoint = f"/mcp/{token}/messages?session_id={conn.conn_id}"
            await response.write(f"event: endpoint\ndata: {endpoint}\n\n".encode())
            while not hold.done:
                if loop.time() - claimed >= _KEEPALIVE_S:
                    await self._claim(conn)
                    claimed = loop.time()
                wait = _KEEPALIVE_S
                if resolved.token_expires_at:
                    wait = min(wait, resolved.token_expires_at - self._needs.clock.time())
                    if wait <= 0:
                        break
                try:
                    frame = await conn.next_frame(wait)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if frame is None:
                    break
                await response.write(frame)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            detach()
            self._needs.live.release(hold)
            self.connections.pop(conn.conn_id, None)
            self._needs.streams.closed(response)
            for task in list(conn.tasks):
                task.cancel()
            with contextlib.suppress(StateUnavailable):
                await self._needs.state.release_stream(conn.conn_id)
        return response

    async def _claim(self, conn: SseConnection) -> None:
        """Announce (refresh) the stream; without the shared state only local POSTs reach it."""
        with contextlib.suppress(StateUnavailable):
            await self._needs.state.claim_stream(conn.conn_id, conn.server_id, _CLAIM_TTL_S)

    async def post(self, request: web.Request) -> web.Response:
        """POST /mcp/{token}/messages?session_id=...: handled here, or relayed to the stream's owner."""
        resolved = gate.resolved(request)
        server_id = resolved.scope.server_id
        conn_id = request.query.get("session_id", "")
        conn = self.connections.get(conn_id)
        owner: str | None = None
        # Our stream ids never hold ":"; a claim that does is a GET stream's (protocol/stream_relay.py).
        if conn is None and conn_id and ":" not in conn_id:
            try:
                claim = await self._needs.state.stream_owner(conn_id)
            except StateUnavailable:
                return _state_unavailable()
            if claim is not None and claim[1] == server_id and claim[0] != self._needs.state.replica_id:
                owner = claim[0]
        elif conn is not None and conn.server_id != server_id:
            conn = None
        if conn is None and owner is None:
            return web.Response(status=404, text="Unknown or closed SSE session")
        request[SESSION] = conn_id[:8]
        body = gate.body(request)
        try:
            msg = parse_message(parse_body(body))
        except JsonRpcError as exc:
            return web.json_response(error_response(None, exc), status=400)
        request[RPC_METHOD] = msg.method or msg.kind
        if msg.kind == "response" and conn is not None:
            await self._needs.protocol.response(msg, conn.conn_id)  # e.g. the answer to an elicitation
            return web.Response(status=202, text="Accepted")
        if conn is None:
            assert owner is not None
            encoded = base64.b64encode(body).decode()  # JSON may legally be UTF-16/32: relay the bytes
            relayed = {"kind": _RELAYED, "conn": conn_id, "server": server_id, "body": encoded}
            try:
                delivered = await self._needs.state.send(owner, relayed)
            except StateUnavailable:
                return _state_unavailable()
            if not delivered:
                return web.Response(status=404, text="Unknown or closed SSE session")
            return web.Response(status=202, text="Accepted")
        if msg.kind == "request" and self._busy(conn):
            raise limited(
                f"Too many requests in progress on this SSE stream (at most "
                f"{self._needs.sse_max_inflight}); wait for their answers",
                retry_after_s=1,
            )
        await self._handle(conn, msg, resolved.scope)
        return web.Response(status=202, text="Accepted")

    def _busy(self, conn: SseConnection) -> bool:
        """Whether the stream already has `sse_max_inflight` requests in progress (counted as tripped)."""
        if len(conn.tasks) < self._needs.sse_max_inflight:
            return False
        self._needs.tripped("sse_inflight")
        return True

    async def _handle(self, conn: SseConnection, msg: Message, scope: ServerScope) -> None:
        """Process one message of the stream (local or relayed): answers go on the stream."""
        if msg.kind == "response":  # relayed from another replica
            await self._needs.protocol.response(msg, conn.conn_id)
            return
        ex = await self._exchange(conn, scope)
        if msg.kind == "notification":
            await self._needs.protocol.notification(msg, ex)
            return
        if self._busy(conn):  # a relayed request (a local one was refused with 429 already)
            error = JsonRpcError(RATE_LIMITED, "Too many requests in progress on this SSE stream")
            conn.push(error_response(msg.id, error))
            return
        task = asyncio.create_task(self._answer(conn, msg, ex))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)

    def _on_relayed(self, message: dict[str, Any]) -> None:
        """A POST for one of our streams arrived at another replica (state listener callback)."""
        conn = self.connections.get(str(message.get("conn")))
        if conn is None or conn.server_id != message.get("server"):
            logger.info("relayed SSE message for a stream that is gone; dropped")
            return
        task = asyncio.create_task(self._deliver(conn, str(message.get("body", ""))))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)

    async def _deliver(self, conn: SseConnection, body: str) -> None:
        try:
            resolved = await self._needs.resolve(conn.token)
            msg = parse_message(parse_body(base64.b64decode(body)))
        except (NotFound, BackendUnavailable):
            logger.info("relayed SSE message dropped: the stream's token no longer resolves")
            return
        except (JsonRpcError, ValueError):
            return  # the receiving replica already answered 400 for unparsable bodies
        if resolved.scope.server_id != conn.server_id:
            return
        await self._handle(conn, msg, resolved.scope)

    async def _exchange(self, conn: SseConnection, scope: ServerScope) -> Exchange:
        session = conn.session
        version = session.protocol_version if session else "2024-11-05"

        async def send(note: dict[str, Any]) -> None:
            conn.push(note)

        return Exchange(
            scope=scope,
            version=version,
            modern=False,
            conn_key=conn.conn_id,
            client_capabilities=session.client_capabilities if session else {},
            session=session,
            send=send,
            log_level=await self._needs.protocol.sessions.level(session),
            token=conn.token,
            second_factor=conn.second_factor,
        )

    async def _answer(self, conn: SseConnection, msg: Message, ex: Exchange) -> None:
        protocol = self._needs.protocol
        try:
            if msg.method == "initialize":
                params = msg.params
                version = protocol.negotiate(params.get("protocolVersion"), LEGACY_SSE_VERSIONS)
                caps = as_object(params.get("capabilities"))
                info = as_object(params.get("clientInfo"))
                _, conn.session = protocol.sessions.issue(conn.server_id, version, caps, info)
                reply = result_response(msg.id, protocol.initialize_result(version, caps))
            elif conn.session is None and msg.method != "ping":
                raise JsonRpcError(INVALID_REQUEST, "Send initialize first")
            else:
                reply = result_response(msg.id, await protocol.request(msg, ex))
        except RequestCancelled:
            return
        except JsonRpcError as exc:
            reply = error_response(msg.id, exc)
        except Exception:
            logger.exception("request failed")
            reply = error_response(msg.id, JsonRpcError(-32603, "Internal error"))
        conn.push(reply)

    async def close(self) -> None:
        """End every stream (shutdown)."""
        for conn in list(self.connections.values()):
            conn.end()
