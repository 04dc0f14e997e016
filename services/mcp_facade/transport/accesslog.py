"""One access-log line per HTTP request, with the URL token redacted.

Logged: HTTP method, redacted path (`/mcp/<redacted>/...`), status, duration, the
JSON-RPC method and tool name (set by the handlers in `request[...]`), and a short
session-id prefix. Never the query string (legacy SSE session ids), headers or bodies.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..metrics import FacadeMetrics

__all__ = ["RPC_METHOD", "SESSION", "TOOL", "access_log_middleware", "redact_path"]

logger = logging.getLogger("services.mcp_facade.access")

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

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def redact_path(path: str) -> str:
    """`/mcp/<anything>/rest` -> `/mcp/<redacted>/rest`; other paths unchanged."""
    return _MCP_PATH.sub("/mcp/<redacted>", path)


def access_log_middleware(metrics: FacadeMetrics | None) -> Middleware:
    """An aiohttp middleware logging each request (and counting it in `metrics`)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            rpc_method = str(request.get(RPC_METHOD, "-"))
            if not _TAME.match(rpc_method):
                rpc_method = "invalid"
            tool = str(request.get(TOOL, "-"))
            if not _TAME.match(tool):
                tool = "invalid"
            logger.info(
                "%s %s %d %.1fms rpc=%s tool=%s session=%s",
                request.method,
                redact_path(request.path),
                status,
                elapsed_ms,
                rpc_method,
                tool,
                request.get(SESSION, "-"),
            )
            if metrics is not None and (request.path == "/mcp" or request.path.startswith("/mcp/")):
                label = rpc_method if rpc_method in _KNOWN_METHODS else "other"
                metrics.requests.labels(label, str(status)).inc()

    return middleware
