"""Streamable HTTP on `/mcp/{token}` (and `/mcp` with the token in Authorization): the stateless
2026-07-28 revision and the session revisions.

How a POST is routed:
- `initialize` opens a session (2025-11-25 / 2025-06-18 / 2025-03-26): the version is
  negotiated and a signed, self-contained `Mcp-Session-Id` is returned. One that names
  `params.protocolVersion` always does, whatever else it carries.
- a request whose `params._meta` or `MCP-Protocol-Version` header names a 2026-07-28-era
  version (or a bare `server/discover` probe) is served statelessly. It must carry the
  whole request metadata: `_meta` with protocolVersion and clientCapabilities (else 400 /
  -32602), the `MCP-Protocol-Version`, `Mcp-Method` and (tools/call) `Mcp-Name` headers
  equal to the body (else 400 / -32020), and a version we speak (else 400 / -32022).
  `initialize` and `ping` carrying such metadata get 404 / -32601 (removed methods).
- anything else needs a valid `Mcp-Session-Id` (400 when missing, 404 when unknown,
  forged, expired or ended); a 2025-03-26 session may send a JSON array (batch).

Answers are JSON unless the request is a tools/call that can stream (progress token,
logging level, or a session client that declared elicitation, which may be asked on the
stream) and the client accepts `text/event-stream`. A POSTed JSON-RPC response goes to the
server request awaiting it, on this replica or relayed to the one its id names (protocol/outgoing.py),
and a session's notifications/cancelled to the replica running the request (broadcast when it is
not here): no session affinity is needed. A stateless request's JSON
error goes with the status the spec and the SDK give its code (400 for -32600/-32602/
-32020..-32022, 404 for -32601; jsonrpc.MODERN_HTTP_STATUS); a session's with 200. The
stateless revision is POST only: GET and DELETE naming it get 405. Lax `Accept` handling:
`*/*`, `application/json` alone or nothing at all are all fine.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from gumloop_mcp.runtime import Clock, json_dumpb, json_dumps

from ..protocol.jsonrpc import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MODERN_HTTP_STATUS,
    UNSUPPORTED_VERSION,
    JsonRpcError,
    Message,
    as_object,
    error_response,
    parse_body,
    parse_message,
    result_response,
)
from ..protocol.live import LiveWork
from ..protocol.protocol import (
    META_CAPABILITIES,
    META_LOG_LEVEL,
    META_VERSION,
    MODERN_VERSIONS,
    SESSION_VERSIONS,
    Exchange,
    Protocol,
    RequestCancelled,
    tools_etag,
)
from ..protocol.sessions import Session, SessionError
from ..state.state import StateUnavailable
from . import gate
from .accesslog import RPC_METHOD, SESSION, TOOL
from .auth import Resolved
from .streams import SseStreams, Tripped

__all__ = ["StreamableHttp", "StreamableHttpNeeds"]

logger = logging.getLogger(__name__)

SESSION_HEADER: Final = "Mcp-Session-Id"
VERSION_HEADER: Final = "MCP-Protocol-Version"
_KEEPALIVE_S: Final = 15.0
# Cancel code for a request the client cancelled but whose HTTP exchange is still open.
_CANCELLED: Final = -32800


def _decode_header(value: str) -> str:
    """Header values may be base64-wrapped as `=?base64?...?=` (2026-07-28)."""
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[9:-2]).decode()
        except ValueError:
            return value
    return value


async def _wait_any(events: tuple[asyncio.Event, ...], timeout: float) -> bool:
    """Wait until one of `events` is set (True) or `timeout` passes (False)."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)


def _accepts_sse(request: web.Request) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _rpc_error(error: JsonRpcError, msg_id: Any = None, status: int | None = None) -> web.Response:
    return web.json_response(error_response(msg_id, error), status=status or error.http_status or 400)


# Methods whose 2026-07-28 requests name their target in the Mcp-Name header, and where.
_NAMED_METHODS: Final = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    # SEP-2663 (tasks extension): the task methods name their task.
    "tasks/get": "taskId",
    "tasks/update": "taskId",
    "tasks/cancel": "taskId",
}


def _modern_get_or_delete() -> web.Response:
    """2026-07-28 is POST only: GET and DELETE get 405, whatever Mcp-Session-Id says (ignored)."""
    return web.Response(status=405, headers={"Allow": "POST"})


def _check_version_header(request: web.Request, allowed: tuple[str, ...]) -> None:
    """400 for an MCP-Protocol-Version we do not speak; any supported one (or none) is fine.

    MCP specification, Streamable HTTP transport, "Protocol Version Header".
    """
    header = request.headers.get(VERSION_HEADER)
    if header is not None and header not in allowed:
        raise JsonRpcError(
            INVALID_REQUEST, f"Bad Request: unsupported MCP-Protocol-Version {header!r}", http_status=400
        )


def _unsupported(requested: Any) -> JsonRpcError:
    return JsonRpcError(
        UNSUPPORTED_VERSION,
        f"Unsupported protocol version {requested!r}",
        {"supported": [*MODERN_VERSIONS, *SESSION_VERSIONS], "requested": requested},
        http_status=400,
    )


def _mismatch(message: str) -> JsonRpcError:
    return JsonRpcError(HEADER_MISMATCH, f"Header mismatch: {message}", http_status=400)


def _check_request_metadata(request: web.Request, msg: Message) -> str:
    """Validate a 2026-07-28 request's `_meta` and mirrored headers; the requested version.

    Order matters to clients telling errors apart: incomplete `_meta` is -32602, then any
    header missing or differing from the body is -32020 (HeaderMismatch), and only a
    consistent request naming a version we do not speak is -32022.
    """
    meta = msg.meta
    requested = meta.get(META_VERSION)
    if not isinstance(requested, str) or not requested:
        raise JsonRpcError(
            INVALID_PARAMS,
            f"Invalid params: params._meta must name {META_VERSION!r} (e.g. {MODERN_VERSIONS[0]!r})",
            http_status=400,
        )
    if not isinstance(meta.get(META_CAPABILITIES), dict):
        raise JsonRpcError(
            INVALID_PARAMS,
            f"Invalid params: params._meta must carry {META_CAPABILITIES!r} (an object, {{}} for none)",
            http_status=400,
        )
    header_version = request.headers.get(VERSION_HEADER)
    if header_version is None:
        raise _mismatch(f"the {VERSION_HEADER} header is missing (expected {requested!r})")
    if header_version != requested:
        raise _mismatch(f"{VERSION_HEADER} {header_version!r} differs from _meta's {requested!r}")
    if requested not in MODERN_VERSIONS:
        raise _unsupported(requested)
    method_header = request.headers.get("Mcp-Method")
    if method_header is None:
        raise _mismatch(f"the Mcp-Method header is missing (expected {msg.method!r})")
    if _decode_header(method_header) != msg.method:
        raise _mismatch("the Mcp-Method header differs from the body's method")
    field = _NAMED_METHODS.get(msg.method)
    if field is not None and field in msg.params:
        name_header = request.headers.get("Mcp-Name")
        if name_header is None:
            raise _mismatch(f"the Mcp-Name header is missing (expected the body's params.{field})")
        if _decode_header(name_header) != msg.params.get(field):
            raise _mismatch(f"the Mcp-Name header differs from the body's params.{field}")
    return requested


@dataclass(frozen=True, slots=True)
class StreamableHttpNeeds:
    """What the Streamable HTTP transport uses of the app (wired in app.create_public_app)."""

    protocol: Protocol
    live: LiveWork
    streams: SseStreams
    # Set once the app shuts down: idle session streams end.
    closing: asyncio.Event
    tripped: Tripped
    max_batch_items: int
    # Session and token expiry are read on it.
    clock: Clock
    # GET of an HTTP+SSE (2024-11-05) client pointed at the bare URL: the legacy transport's stream.
    legacy_stream: Callable[[web.Request], Awaitable[web.StreamResponse]]


class StreamableHttp:
    """POST / GET / DELETE handlers of the MCP endpoint, behind the gate (gate.py)."""

    def __init__(self, needs: StreamableHttpNeeds) -> None:
        self._needs = needs
        # Stateless requests share no connection: each gets its own cancellation scope.
        self._modern_ids = itertools.count()

    # -- POST ------------------------------------------------------------------------------

    async def post(self, request: web.Request) -> web.StreamResponse:
        """POST /mcp/{token}."""
        resolved = gate.resolved(request)
        try:
            payload = parse_body(gate.body(request))
        except JsonRpcError as exc:
            return _rpc_error(exc)
        session, log_level = await self._session(request, resolved)
        if isinstance(payload, list):
            return await self._batch(request, resolved, session, log_level, payload)
        try:
            msg = parse_message(payload)
        except JsonRpcError as exc:
            return _rpc_error(exc, payload.get("id") if isinstance(payload, dict) else None)
        request[RPC_METHOD] = msg.method or msg.kind
        if msg.method == "tools/call":
            request[TOOL] = str(msg.params.get("name", ""))[:64]
        try:
            marked = META_VERSION in msg.meta or request.headers.get(VERSION_HEADER) in MODERN_VERSIONS
            if (
                msg.method == "initialize"
                and msg.kind == "request"
                and ("protocolVersion" in msg.params or not marked)
            ):
                return self._initialize(msg, resolved)
            # The stateless revision ignores Mcp-Session-Id: its metadata decides. A bare
            # server/discover (no version anywhere) is answered too, so that a probing client
            # learns our versions instead of an error.
            modern = marked or (session is None and msg.method == "server/discover")
            if not modern and isinstance(session, SessionError):
                raise JsonRpcError(
                    INVALID_REQUEST, "Session not found; initialize a new session", http_status=404
                )
            if modern:
                ex = self._modern_exchange(request, msg, resolved)
            elif session is None:
                if msg.kind != "request":
                    return web.Response(status=202)
                raise JsonRpcError(
                    INVALID_REQUEST,
                    "Bad Request: missing Mcp-Session-Id; send initialize first, "
                    "or use protocol version 2026-07-28 with params._meta",
                    http_status=400,
                )
            else:
                assert isinstance(session, Session)
                # Every session POST: requests whatever their answer, notifications and responses.
                _check_version_header(request, SESSION_VERSIONS)
                ex = self._session_exchange(request, resolved, session, log_level)
        except JsonRpcError as exc:
            return _rpc_error(exc, msg.id)
        try:
            if msg.kind == "notification":
                await self._needs.protocol.notification(msg, ex)
                return web.Response(status=202)
            if msg.kind == "response":
                await self._needs.protocol.response(msg, ex.conn_key)
                return web.Response(status=202)
        except StateUnavailable:
            # Another replica runs what it is for, and the shared state cannot reach it: not accepted.
            error = JsonRpcError(INTERNAL_ERROR, "The message could not be delivered now; retry shortly")
            return _rpc_error(error, status=503)
        if msg.method == "tools/call" and _accepts_sse(request) and self._wants_stream(msg, ex):
            return await self._answer_sse(request, msg, ex)
        return await self._answer_json(request, msg, ex)

    async def _session(
        self, request: web.Request, resolved: Resolved
    ) -> tuple[Session | SessionError | None, str | None]:
        """The request's session (or why it is refused) and its logging level: one state lookup."""
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            return None, None
        try:
            session, level = await self._needs.protocol.sessions.open(session_id, resolved.scope.server_id)
        except SessionError as exc:
            return exc, None
        request[SESSION] = session.short
        return session, level

    def _initialize(self, msg: Message, resolved: Resolved) -> web.Response:
        protocol = self._needs.protocol
        params = msg.params
        version = protocol.negotiate(params.get("protocolVersion"), SESSION_VERSIONS)
        caps = as_object(params.get("capabilities"))
        info = as_object(params.get("clientInfo"))
        session_id, _ = protocol.sessions.issue(resolved.scope.server_id, version, caps, info)
        body = result_response(msg.id, protocol.initialize_result(version, caps))
        return web.json_response(body, headers={SESSION_HEADER: session_id}, dumps=json_dumps)

    def _session_exchange(
        self, request: web.Request, resolved: Resolved, session: Session, log_level: str | None
    ) -> Exchange:
        return Exchange(
            scope=resolved.scope,
            version=session.protocol_version,
            modern=False,
            conn_key=session.nonce,
            client_capabilities=session.client_capabilities,
            session=session,
            log_level=log_level,
            token=gate.url_token(request),
            second_factor=resolved.second_factor,
        )

    def _modern_exchange(self, request: web.Request, msg: Message, resolved: Resolved) -> Exchange:
        if msg.kind == "request" and (META_VERSION in msg.meta or VERSION_HEADER in request.headers):
            requested = _check_request_metadata(request, msg)
        else:
            # A bare server/discover probe, or a notification (2026-07-28 defines none over HTTP).
            requested = msg.meta.get(META_VERSION) or MODERN_VERSIONS[0]
            if requested not in MODERN_VERSIONS:
                raise _unsupported(requested)
        caps = msg.meta.get(META_CAPABILITIES)
        level = msg.meta.get(META_LOG_LEVEL)
        return Exchange(
            scope=resolved.scope,
            version=str(requested),
            modern=True,
            # Per request, never per server: two stateless clients of one URL may use the same
            # request id. 2026-07-28 cancels by closing the stream (the handler is cancelled with
            # it), so a notifications/cancelled matches nothing here.
            conn_key=f"modern:{next(self._modern_ids)}",
            client_capabilities=caps if isinstance(caps, dict) else {},
            log_level=level if isinstance(level, str) else None,
            token=gate.url_token(request),
            second_factor=resolved.second_factor,
        )

    def _wants_stream(self, msg: Message, ex: Exchange) -> bool:
        # A client that declared elicitation may be asked on the call's stream (approval waits).
        return (
            "progressToken" in msg.meta
            or (ex.log_level is not None and ex.session is not None)
            or (ex.session is not None and self._needs.protocol.elicits(ex))
        )

    async def _answer_json(self, request: web.Request, msg: Message, ex: Exchange) -> web.Response:
        try:
            result = await self._needs.protocol.request(msg, ex)
        except RequestCancelled:
            return _rpc_error(JsonRpcError(_CANCELLED, "Request cancelled"), msg.id, status=200)
        except JsonRpcError as exc:
            default = MODERN_HTTP_STATUS.get(exc.code, 200) if ex.modern else 200
            return _rpc_error(exc, msg.id, status=exc.http_status or default)
        except Exception:
            logger.exception("request failed")
            return _rpc_error(JsonRpcError(INTERNAL_ERROR, "Internal error"), msg.id, status=500)
        headers: dict[str, str] = {}
        if msg.method == "tools/list":
            etag = tools_etag(result["tools"])
            headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers=headers)
        return web.json_response(result_response(msg.id, result), headers=headers, dumps=json_dumps)

    async def _answer_sse(self, request: web.Request, msg: Message, ex: Exchange) -> web.StreamResponse:
        response = self._needs.streams.response()
        await response.prepare(request)
        self._needs.streams.opened(response)
        lock = asyncio.Lock()

        async def send(item: dict[str, Any]) -> None:
            async with lock:
                await response.write(b"event: message\ndata: " + json_dumpb(item) + b"\n\n")

        ex.send = send
        try:
            try:
                reply = result_response(msg.id, await self._needs.protocol.request(msg, ex))
            except RequestCancelled:
                return response
            except JsonRpcError as exc:
                reply = error_response(msg.id, exc)
            except (ConnectionResetError, asyncio.CancelledError):
                raise
            except Exception:
                logger.exception("request failed")
                reply = error_response(msg.id, JsonRpcError(INTERNAL_ERROR, "Internal error"))
            await send(reply)
        except (ConnectionResetError, asyncio.CancelledError):
            logger.info("client closed the response stream")
        finally:
            self._needs.streams.closed(response)
        return response

    async def _batch(
        self,
        request: web.Request,
        resolved: Resolved,
        session: Session | SessionError | None,
        log_level: str | None,
        items: list[Any],
    ) -> web.Response:
        request[RPC_METHOD] = "batch"
        if not isinstance(session, Session) or session.protocol_version != "2025-03-26":
            error = JsonRpcError(
                INVALID_REQUEST, "Invalid Request: batches are only allowed in 2025-03-26 sessions"
            )
            return _rpc_error(error, status=400)
        if not items:
            return _rpc_error(JsonRpcError(INVALID_REQUEST, "Invalid Request: empty batch"), status=400)
        limit = self._needs.max_batch_items
        if len(items) > limit:
            self._needs.tripped("batch_size")
            error = JsonRpcError(
                INVALID_REQUEST,
                f"Invalid Request: a batch may hold at most {limit} messages (got {len(items)}); "
                "send the rest in further requests",
                {"max_batch_items": limit},
            )
            return _rpc_error(error, status=400)
        try:
            _check_version_header(request, SESSION_VERSIONS)
        except JsonRpcError as exc:
            return _rpc_error(exc)
        ex = self._session_exchange(request, resolved, session, log_level)
        ex.batch = True  # every request of the batch takes from the call budget
        replies: list[dict[str, Any]] = []
        for item in items:
            try:
                msg = parse_message(item)
            except JsonRpcError as exc:
                replies.append(error_response(item.get("id") if isinstance(item, dict) else None, exc))
                continue
            if msg.kind == "notification":
                with contextlib.suppress(StateUnavailable):  # a batch has no answer for a notification
                    await self._needs.protocol.notification(msg, ex)
            elif msg.kind == "request":
                try:
                    replies.append(result_response(msg.id, await self._needs.protocol.request(msg, ex)))
                except RequestCancelled:
                    continue
                except JsonRpcError as exc:
                    replies.append(error_response(msg.id, exc))
        if not replies:
            return web.Response(status=202)
        return web.json_response(replies, dumps=json_dumps)

    # -- GET / DELETE --------------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.StreamResponse:
        """GET /mcp/{token}: a session's server->client stream.

        Without a session id, an SSE-accepting client that names no modern version is
        an HTTP+SSE (2024-11-05) client pointed at the bare URL: it gets the legacy
        stream and its `endpoint` event (on `/mcp/{token}` only). Stateless clients get 405.
        """
        resolved = gate.resolved(request)
        request[RPC_METHOD] = "GET"
        if request.headers.get(VERSION_HEADER) in MODERN_VERSIONS:
            return _modern_get_or_delete()
        session, _ = await self._session(request, resolved)
        if session is None:
            # HTTP+SSE needs the token in its URLs (its endpoint event names one): not on `/mcp`.
            if not _accepts_sse(request) or "token" not in request.match_info:
                return web.Response(status=405, headers={"Allow": "POST"})
            return await self._needs.legacy_stream(request)
        if isinstance(session, SessionError):
            return _rpc_error(JsonRpcError(INVALID_REQUEST, "Session not found"), status=404)
        try:
            _check_version_header(request, SESSION_VERSIONS)
        except JsonRpcError as exc:
            return _rpc_error(exc)
        with self._needs.streams.slot(request, resolved.scope.server_id):
            return await self._session_stream(request, resolved, session)

    async def _session_stream(
        self, request: web.Request, resolved: Resolved, session: Session
    ) -> web.StreamResponse:
        response = self._needs.streams.response()
        await response.prepare(request)
        self._needs.streams.opened(response)
        cut = asyncio.Event()
        hold = self._needs.live.hold(
            resolved.scope.server_id,
            gate.url_token(request),
            lambda _: cut.set(),
            second_factor=resolved.second_factor,
        )
        ends = session.expires_at
        if resolved.token_expires_at:
            ends = min(ends, resolved.token_expires_at)

        async def push(note: dict[str, Any]) -> None:  # resource updates (protocol.attach_stream)
            await response.write(b"event: message\ndata: " + json_dumpb(note) + b"\n\n")

        detach = self._needs.protocol.attach_stream(
            session.nonce, push, announce_for=resolved.scope.server_id
        )
        try:
            # Outside requests only resource updates are pushed (no list_changed); keep the stream open
            # with comments until the session or the token expires, the server is revoked
            # (live.py cuts it), the client leaves or we shut down.
            while not self._needs.closing.is_set() and not cut.is_set():
                remaining = ends - self._needs.clock.time()
                if remaining <= 0:
                    break
                if not await _wait_any((self._needs.closing, cut), min(_KEEPALIVE_S, remaining)):
                    await response.write(b": keepalive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            detach()
            self._needs.live.release(hold)
            self._needs.streams.closed(response)
        return response

    async def delete(self, request: web.Request) -> web.Response:
        """DELETE /mcp/{token}: end the session (405 for the stateless revision: no sessions)."""
        resolved = gate.resolved(request)
        request[RPC_METHOD] = "DELETE"
        if request.headers.get(VERSION_HEADER) in MODERN_VERSIONS:
            return _modern_get_or_delete()
        session, _ = await self._session(request, resolved)
        if session is None:
            return _rpc_error(
                JsonRpcError(INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id"), status=400
            )
        if isinstance(session, SessionError):
            return _rpc_error(JsonRpcError(INVALID_REQUEST, "Session not found"), status=404)
        try:
            _check_version_header(request, SESSION_VERSIONS)
        except JsonRpcError as exc:
            return _rpc_error(exc)
        try:
            await self._needs.protocol.sessions.end(session)
        except StateUnavailable:
            # Not acknowledged: the session would stay usable on other replicas. The client may retry.
            error = JsonRpcError(INTERNAL_ERROR, "The session could not be ended right now; retry shortly")
            return _rpc_error(error, status=503)
        await self._needs.protocol.session_ended(session.nonce)
        return web.Response(status=200)
