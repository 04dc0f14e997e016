"""The façade's request entry: request id, trace span, one structured access-log line, metrics.

Each request gets a request id: the ingress's `X-Request-Id` when it is well-formed and short
(`[A-Za-z0-9._:-]{1,64}`), else a new one. It is set in `request_id_var` (every log line of the
request carries it, and the gRPC channels send it on as `x-request-id` metadata) and returned in the
`X-Request-Id` response header.

With tracing on (see gumloop_mcp.runtime.configure_tracing), each request is one SERVER span that
continues the caller's W3C `traceparent`, named after the JSON-RPC method, with the tool name and the
MCP server id as attributes: never the URL token, a header, the query or an argument.

The access line is logged as JSON fields: method, path (`/mcp/<redacted>/...`), status, duration_ms,
bytes, client, request_id, the JSON-RPC method and tool name (set by the handlers in `request[...]`),
and a short session-id prefix. Never the query string (legacy SSE session ids), headers or bodies.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import trace

from gumloop_mcp.runtime import extract_context, new_request_id, request_id_var, tracer, tracing_enabled

from ..metrics import FacadeMetrics

__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "RPC_METHOD",
    "SERVER_ID",
    "SESSION",
    "TOOL",
    "access_log_middleware",
    "add_request_id_header",
    "redact_path",
    "request_id_from",
]

logger = logging.getLogger("services.mcp_facade.access")

REQUEST_ID_HEADER: Final = "X-Request-Id"
REQUEST_ID: Final = web.RequestKey("gmcp_request_id", str)
SERVER_ID: Final = web.RequestKey("gmcp_server_id", str)
RPC_METHOD: Final = web.RequestKey("gmcp_rpc_method", str)
TOOL: Final = web.RequestKey("gmcp_tool", str)
SESSION: Final = web.RequestKey("gmcp_session", str)

_MCP_PATH: Final = re.compile(r"^/mcp/[^/]+")
# JSON-RPC method names come from the client: only known ones become metric labels,
# and only tame ones reach the log line.
_KNOWN_METHODS: Final = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "logging/setLevel",
        "tasks/get",
        "tasks/result",
        "tasks/list",
        "tasks/cancel",
        "notifications/initialized",
        "notifications/cancelled",
        "batch",
        "response",
        "GET",
        "DELETE",
        "-",
    }
)
_TAME: Final = re.compile(r"^[A-Za-z0-9_./-]{1,64}$")
_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def redact_path(path: str) -> str:
    """`/mcp/<anything>/rest` -> `/mcp/<redacted>/rest`; other paths unchanged."""
    return _MCP_PATH.sub("/mcp/<redacted>", path)


def request_id_from(headers: Any) -> str:
    """The ingress's `X-Request-Id` when well-formed and short, else a new 16-hex-digit id."""
    offered = headers.get(REQUEST_ID_HEADER, "")
    if offered and _REQUEST_ID.match(offered):
        return str(offered)
    return new_request_id()


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: every answer (streams and errors too) carries `X-Request-Id`."""
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id


def _tame(value: str) -> str:
    return value if _TAME.match(value) else "invalid"


def access_log_middleware(metrics: FacadeMetrics | None) -> Middleware:
    """An aiohttp middleware: request id, span (when tracing), access log line, request count."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request_id_from(request.headers)
        request[REQUEST_ID] = request_id
        request_id_var.set(request_id)
        if not tracing_enabled():
            return await _serve(request, handler, metrics, None)
        with tracer().start_as_current_span(
            f"HTTP {request.method}",
            context=extract_context(request.headers),
            kind=trace.SpanKind.SERVER,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            return await _serve(request, handler, metrics, span)

    return middleware


async def _serve(
    request: web.Request, handler: Handler, metrics: FacadeMetrics | None, span: trace.Span | None
) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    size = 0
    try:
        response = await handler(request)
        status = response.status
        size = _size(response)
        return response
    except web.HTTPException as exc:
        status = exc.status
        size = len(exc.text or "")
        raise
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        rpc_method = _tame(str(request.get(RPC_METHOD, "-")))
        tool = _tame(str(request.get(TOOL, "-")))
        path = redact_path(request.path)
        fields = {
            "method": request.method,
            "path": path,
            "status": status,
            "duration_ms": round(elapsed_ms, 2),
            "bytes": size,
            "client": request.remote or "",
            "rpc_method": rpc_method,
            "tool": tool,
            "session": request.get(SESSION, "-"),
        }
        logger.info("%s %s %d %.1fms", request.method, path, status, elapsed_ms, extra=fields)
        is_mcp = request.path == "/mcp" or request.path.startswith("/mcp/")
        if metrics is not None and is_mcp:
            label = rpc_method if rpc_method in _KNOWN_METHODS else "other"
            metrics.requests.labels(label, str(status)).inc()
        if span is not None:
            _describe(span, request, fields, is_mcp)


def _size(response: web.StreamResponse) -> int:
    """Body bytes: written so far for a stream, the body's length for a Response not yet sent."""
    if response.prepared or not isinstance(response, web.Response):
        return int(response.body_length)
    body = response.body
    return len(body) if isinstance(body, (bytes, bytearray)) else int(response.content_length or 0)


def _describe(span: trace.Span, request: web.Request, fields: dict[str, Any], is_mcp: bool) -> None:
    """Name the request's span and set its attributes (no token, header, query or argument)."""
    rpc_method = str(fields["rpc_method"])
    label = rpc_method if rpc_method in _KNOWN_METHODS else "other"
    status = int(fields["status"])
    attributes: dict[str, Any] = {
        "http.request.method": request.method,
        "url.path": fields["path"],
        "http.response.status_code": status,
        "gmcp.request_id": request[REQUEST_ID],
    }
    if is_mcp:
        span.update_name(f"MCP {label}" if fields["tool"] == "-" else f"MCP {label} {fields['tool']}")
        attributes["mcp.method.name"] = label
        if fields["tool"] != "-":
            attributes["gen_ai.tool.name"] = fields["tool"]
        server_id = request.get(SERVER_ID)
        if server_id:
            attributes["gmcp.mcp_server.id"] = server_id
    span.set_attributes(attributes)
    if status >= 500:
        span.set_status(trace.StatusCode.ERROR)
