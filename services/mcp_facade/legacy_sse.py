"""The HTTP+SSE transport (2024-11-05), still used by some clients.

GET `/mcp/{token}/sse` opens a stream whose first event is `endpoint`, naming the
POST URL `/mcp/{token}/messages?session_id=<id>`. Each POST is answered 202 and
the JSON-RPC response travels on the stream as an `event: message`.

This transport is inherently per process: the stream and its queue live in the
replica that accepted the GET, so POSTs must reach the same replica (the
streamable-HTTP transport has no such constraint).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from .accesslog import RPC_METHOD, SESSION
from .jsonrpc import (
    INVALID_REQUEST,
    JsonRpcError,
    Message,
    as_object,
    error_response,
    parse_body,
    parse_message,
    result_response,
)
from .protocol import LEGACY_SSE_VERSIONS, Exchange, RequestCancelled
from .sessions import Session

if TYPE_CHECKING:
    from .app import FacadeApp

__all__ = ["LegacySse", "SseConnection"]

logger = logging.getLogger(__name__)

_KEEPALIVE_S: Final = 15.0


@dataclass(slots=True)
class SseConnection:
    """One open HTTP+SSE stream."""

    conn_id: str
    server_id: str
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    session: Session | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class LegacySse:
    """Handlers for the HTTP+SSE transport; `app` supplies authorisation and the protocol."""

    def __init__(self, app: FacadeApp) -> None:
        self._app = app
        self.connections: dict[str, SseConnection] = {}

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """GET /mcp/{token}/sse."""
        resolved = await self._app.authorize(request)
        conn = SseConnection(secrets.token_urlsafe(18), resolved.scope.server_id)
        self.connections[conn.conn_id] = conn
        request[SESSION] = conn.conn_id[:8]
        response = self._app.sse_response()
        await response.prepare(request)
        self._app.stream_opened(response)
        try:
            endpoint = f"/mcp/{request.match_info['token']}/messages?session_id={conn.conn_id}"
            await response.write(f"event: endpoint\ndata: {endpoint}\n\n".encode())
            while True:
                try:
                    item = await asyncio.wait_for(conn.queue.get(), _KEEPALIVE_S)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if item is None:
                    break
                await response.write(f"event: message\ndata: {json.dumps(item)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.connections.pop(conn.conn_id, None)
            self._app.stream_closed(response)
            for task in list(conn.tasks):
                task.cancel()
        return response

    async def post(self, request: web.Request) -> web.Response:
        """POST /mcp/{token}/messages?session_id=..."""
        resolved = await self._app.authorize(request)
        conn = self.connections.get(request.query.get("session_id", ""))
        if conn is None or conn.server_id != resolved.scope.server_id:
            return web.Response(status=404, text="Unknown or closed SSE session")
        request[SESSION] = conn.conn_id[:8]
        body = await self._app.read_body(request)
        try:
            msg = parse_message(parse_body(body))
        except JsonRpcError as exc:
            return web.json_response(error_response(None, exc), status=400)
        request[RPC_METHOD] = msg.method or msg.kind
        if msg.kind == "response":
            return web.Response(status=202, text="Accepted")
        ex = await self._exchange(conn, resolved.scope)
        if msg.kind == "notification":
            self._app.protocol.notification(msg, ex)
            return web.Response(status=202, text="Accepted")
        task = asyncio.create_task(self._answer(conn, msg, ex))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)
        return web.Response(status=202, text="Accepted")

    async def _exchange(self, conn: SseConnection, scope: Any) -> Exchange:
        session = conn.session
        version = session.protocol_version if session else "2024-11-05"

        async def send(note: dict[str, Any]) -> None:
            await conn.queue.put(note)

        return Exchange(
            scope=scope,
            version=version,
            modern=False,
            conn_key=conn.conn_id,
            client_capabilities=session.client_capabilities if session else {},
            session=session,
            send=send,
            log_level=await self._app.protocol.sessions.level(session),
        )

    async def _answer(self, conn: SseConnection, msg: Message, ex: Exchange) -> None:
        protocol = self._app.protocol
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
        await conn.queue.put(reply)

    async def close(self) -> None:
        """End every stream (shutdown)."""
        for conn in list(self.connections.values()):
            with contextlib.suppress(asyncio.QueueFull):
                conn.queue.put_nowait(None)
