"""The public aiohttp application: `/mcp/{token}` (both transports), `/mcp`, /healthz, /readyz,
and its composition root: `create_public_app` builds the parts and hands each transport exactly
what it uses (`StreamableHttpNeeds`, `LegacySseNeeds`).

Every MCP request first passes the gate (gate.py, a middleware): Host/Origin checks (421/403),
503 while shutting down, token resolution (404 with one generic body for unknown, malformed,
missing, expired and revoked tokens; 503 when the token service is down), the optional second
factor (an API token, or for a `require_oauth` record an OAuth access token its own authorization
server issued: 401 with `WWW-Authenticate`), and for a POST the body ceiling (413) and read
timeout (408). Only then is JSON-RPC parsed. SSE streams take a slot per MCP server and per
client address (429 beyond; limits.py, streams.py).

The URL token travels in the path (`/mcp/{token}`) or, on the tokenless `/mcp` (Streamable
HTTP only), in `Authorization: Bearer gmcp_...`, which keeps it out of URLs and client logs.
Both forms resolve to the same scope through the same checks.

Revocations reach work already running through `live` (live.py; revocations.py cuts it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from gumloop_mcp.runtime import SYSTEM_CLOCK, Clock

from ..contracts import Toolbox
from ..metrics import FacadeMetrics
from ..oauth import OAuthEndpoints, OAuthService, open_oauth
from ..protocol.live import LiveWork
from ..protocol.protocol import Protocol
from ..protocol.sessions import SessionStore
from ..settings import FacadeSettings
from ..state.state import FacadeState
from .accesslog import access_log_middleware, add_request_id_header
from .auth import TokenResolver
from .gate import API_TOKEN_HEADER, BodyLimits, McpGate
from .health import Health
from .legacy_sse import LegacySse, LegacySseNeeds
from .limits import StreamSlots
from .revocations import Revocations
from .security import HostPolicy
from .streamable_http import StreamableHttp, StreamableHttpNeeds
from .streams import SseStreams, trip_counter

__all__ = ["API_TOKEN_HEADER", "FACADE_KEY", "FacadeApp", "create_public_app"]


@dataclass(frozen=True, slots=True)
class FacadeApp:
    """The parts of the public app that outlive a request (server.py shuts them down; tests look)."""

    protocol: Protocol
    live: LiveWork
    oauth: OAuthEndpoints
    streamable: StreamableHttp
    legacy: LegacySse
    streams: SseStreams
    revocations: Revocations
    # Set once shutdown starts: new MCP requests get 503, idle GET streams end.
    closing: asyncio.Event
    metrics: FacadeMetrics | None

    async def shutdown(self, grace_s: float) -> None:
        """Refuse new requests, end streams, give in-flight calls `grace_s`, then cancel them."""
        self.closing.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self.protocol.inflight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await self.legacy.close()
        await self.protocol.close()
        await self.revocations.close()
        await self.oauth.service.store.close()


FACADE_KEY: Final = web.AppKey("facade", FacadeApp)


_CORS_HEADERS: Final = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, "
        "Mcp-Name, Last-Event-ID, If-None-Match, X-Gumloop-MCP-API-Token"
    ),
    "Access-Control-Expose-Headers": "Mcp-Session-Id, MCP-Protocol-Version, ETag, WWW-Authenticate",
    "Access-Control-Max-Age": "600",
    "Vary": "Origin",
}


def _cors_hook(policy: HostPolicy) -> Any:
    """Adds CORS headers to answers for allow-listed browser origins (e.g. a web inspector)."""

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        origin = policy.cors_origin(request.headers.get("Origin"))
        if origin is not None and (request.path == "/mcp" or request.path.startswith("/mcp/")):
            response.headers["Access-Control-Allow-Origin"] = origin
            for name, value in _CORS_HEADERS.items():
                response.headers.setdefault(name, value)

    return on_prepare


async def _preflight(request: web.Request) -> web.Response:
    """OPTIONS: 204; the CORS headers come from the prepare hook when the Origin is allowed."""
    return web.Response(status=204)


async def _not_found(request: web.Request) -> web.Response:
    return web.json_response({"error": "not_found"}, status=404)


def create_public_app(
    settings: FacadeSettings,
    toolbox: Toolbox,
    resolver: TokenResolver,
    sessions: SessionStore,
    state: FacadeState,
    health: Health,
    *,
    metrics: FacadeMetrics | None = None,
    oauth: OAuthService | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[web.Application, FacadeApp]:
    """The public aiohttp application and its parts: the composition root of the MCP endpoint."""
    # The body ceiling is enforced by the gate (413 with a JSON-RPC error); aiohttp's own
    # limit only guards against handlers that would read without one.
    tripped = trip_counter(metrics)
    closing = asyncio.Event()
    live = LiveWork()
    policy = HostPolicy(settings.allowed_origins, settings.allowed_hosts, settings.host)
    # The authorization server of require_oauth records (oauth/): endpoints and token checks.
    oauth_endpoints = OAuthEndpoints(
        settings.public_base_url, policy, resolver.resolve, toolbox, oauth or open_oauth(settings)
    )
    protocol = Protocol(settings, toolbox, sessions, state, metrics=metrics, live=live)
    streams = SseStreams(
        StreamSlots(settings.max_streams_per_server, settings.max_streams_per_client), metrics, tripped
    )
    legacy = LegacySse(
        LegacySseNeeds(
            protocol=protocol,
            live=live,
            streams=streams,
            state=state,
            resolve=resolver.resolve,
            tripped=tripped,
            sse_buffer_bytes=settings.sse_buffer_bytes,
            sse_max_inflight=settings.sse_max_inflight,
            clock=clock,
        )
    )
    streamable = StreamableHttp(
        StreamableHttpNeeds(
            protocol=protocol,
            live=live,
            streams=streams,
            closing=closing,
            tripped=tripped,
            max_batch_items=settings.max_batch_items,
            clock=clock,
            legacy_stream=legacy.stream,
        )
    )
    gate = McpGate(
        policy,
        resolver,
        oauth_endpoints,
        closing,
        BodyLimits(settings.max_body_bytes, settings.body_timeout_s),
        tripped,
    )
    facade = FacadeApp(
        protocol=protocol,
        live=live,
        oauth=oauth_endpoints,
        streamable=streamable,
        legacy=legacy,
        streams=streams,
        revocations=Revocations(live, resolver, oauth_endpoints.service, state, clock),
        closing=closing,
        metrics=metrics,
    )
    app = web.Application(client_max_size=settings.max_body_bytes + 1)
    app[FACADE_KEY] = facade
    route: Any = app.router
    mcp = [
        route.add_post("/mcp/{token}", streamable.post),
        route.add_get("/mcp/{token}", streamable.get),
        route.add_delete("/mcp/{token}", streamable.delete),
        route.add_get("/mcp/{token}/sse", legacy.stream),
        route.add_post("/mcp/{token}/messages", legacy.post),
        # The URL token in `Authorization: Bearer` instead of the path (Streamable HTTP only).
        route.add_post("/mcp", streamable.post),
        route.add_get("/mcp", streamable.get),
        route.add_delete("/mcp", streamable.delete),
    ]
    app.middlewares.extend([access_log_middleware(metrics), gate.middleware({r.resource for r in mcp})])
    route.add_route("OPTIONS", "/mcp", _preflight)
    route.add_route("OPTIONS", "/mcp/{token}", _preflight)
    route.add_route("OPTIONS", "/mcp/{token}/messages", _preflight)
    app.on_response_prepare.append(_cors_hook(policy))
    app.on_response_prepare.append(add_request_id_header)
    health.add_routes(app)
    # OAuth (oauth/http.py): metadata of require_oauth servers and the authorization server's endpoints.
    oauth_endpoints.add_routes(app)
    # Any other discovery probe gets a plain 404 (so does the protected-resource metadata of a server
    # without OAuth: authless or API tokens).
    route.add_get("/.well-known/{rest:.*}", _not_found)
    return app, facade
