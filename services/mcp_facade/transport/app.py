"""The public aiohttp application: `/mcp/{token}` (both transports), `/mcp`, /healthz, /readyz.

The URL token travels in the path (`/mcp/{token}`) or, on the tokenless `/mcp` (Streamable
HTTP only), in `Authorization: Bearer gmcp_...`, which keeps it out of URLs and client logs.
Both forms resolve to the same scope through the same checks. The optional second-factor API
token goes in `Authorization: Bearer gmcpat_...` on `/mcp/{token}`, and in
`X-Gumloop-MCP-API-Token: gmcpat_...` on `/mcp` (where Authorization carries the URL token).

Every MCP request passes, in order: Host/Origin checks (421/403), token resolution
(404 with one generic body for unknown, malformed, missing, expired and revoked tokens; 503
when the token service is down), the optional API-token second factor (401 with
`WWW-Authenticate`), and the body ceiling (413) and read timeout (408). Only then is
JSON-RPC parsed. SSE streams take a slot per MCP server and per client address (429
beyond; limits.py).

Revocations reach work already running through `live` (live.py): the token resolver's
listener cuts the streams, calls and tasks of a revoked or expired record at once, and
re-checks the tokens in use when a record changed or the watch reconnected.

A record with `require_oauth` takes, instead of an API token, an OAuth access token its own
authorization server issued for it (oauth/; 401 with `WWW-Authenticate: Bearer
resource_metadata=...` otherwise). Work opened with a grant is held under it; revoking the grant
is broadcast through the shared state and every replica cuts that work.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any, Final

from aiohttp import web

from ..contracts import Toolbox
from ..metrics import FacadeMetrics
from ..oauth import (
    OAUTH_REVOKED_MESSAGE,
    OAuthEndpoints,
    OAuthService,
    is_oauth_factor,
    oauth_factor_id,
    open_oauth,
)
from ..oauth.store import StoreUnavailable as OAuthStoreUnavailable
from ..protocol.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, JsonRpcError, error_response
from ..protocol.live import LiveWork, SecondFactor
from ..protocol.protocol import Protocol
from ..protocol.sessions import SessionStore
from ..settings import FacadeSettings
from ..state.state import FacadeState, StateUnavailable
from .accesslog import SERVER_ID, access_log_middleware, add_request_id_header
from .auth import BackendUnavailable, NotFound, Resolved, Revocation, TokenResolver, Unauthorized
from .health import Health
from .legacy_sse import LegacySse
from .limits import StreamSlots
from .security import HostPolicy
from .streamable_http import StreamableHttp

__all__ = ["API_TOKEN_HEADER", "FACADE_KEY", "FacadeApp", "create_public_app"]

logger = logging.getLogger(__name__)

# Tokens re-checked at once after a record changed or the watch reconnected.
_RECHECK_CONCURRENCY: Final = 16
# The message that tells every replica a grant was revoked (oauth/): each cuts what it holds of it.
_GRANT_REVOKED: Final = "oauth-grant-revoked"

FACADE_KEY: Final = web.AppKey("facade", object)
# The second-factor API token on `/mcp`, whose Authorization header carries the URL token.
API_TOKEN_HEADER: Final = "X-Gumloop-MCP-API-Token"
# The URL token a request was authorised with (from the path or the Authorization header).
_URL_TOKEN: Final = web.RequestKey("gmcp_url_token", str)
WWW_AUTHENTICATE: Final = 'Bearer realm="gumloop-mcp"'


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    error = error_response(None, JsonRpcError(code, message))
    exc = web.HTTPException(
        text=web.json_response(error).text, content_type="application/json", headers=headers or {}
    )
    exc.set_status(status)
    return exc


def _too_large(limit: int) -> web.HTTPException:
    return _error(413, INVALID_REQUEST, f"Request body larger than {limit} bytes")


def _bearer(value: str | None) -> str:
    scheme, _, token = (value or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _credentials(request: web.Request) -> tuple[str, str | None]:
    """The URL token and the second-factor `Authorization` value of a request.

    `/mcp/{token}`: the path's token, the API token in Authorization. `/mcp`: the URL token in
    Authorization, the API token in X-Gumloop-MCP-API-Token (passed on as a Bearer value).
    """
    token = request.match_info.get("token")
    if token is not None:
        return token, request.headers.get("Authorization")
    api_token = request.headers.get(API_TOKEN_HEADER, "").strip()
    return _bearer(request.headers.get("Authorization")), f"Bearer {api_token}" if api_token else None


def _too_slow(timeout_s: float) -> web.HTTPException:
    return _error(
        408, INVALID_REQUEST, f"Request Timeout: the body did not arrive within {timeout_s:g} seconds"
    )


class FacadeApp:
    """Shared state of the public app: auth, protocol, open streams, shutdown flag."""

    def __init__(
        self,
        settings: FacadeSettings,
        toolbox: Toolbox,
        resolver: TokenResolver,
        sessions: SessionStore,
        state: FacadeState,
        *,
        metrics: FacadeMetrics | None = None,
        oauth: OAuthService | None = None,
    ) -> None:
        self.settings = settings
        self.resolver = resolver
        self.metrics = metrics
        self.state = state
        self.live = LiveWork()
        # The authorization server of require_oauth records (oauth/): endpoints and token checks.
        # A revoked grant is broadcast, and every replica cuts what was opened with it.
        self.oauth = OAuthEndpoints(self, toolbox, oauth or open_oauth(settings))
        self.oauth.service.on_revoked(self._grant_revoked)
        state.on_message(_GRANT_REVOKED, self._on_grant_revoked)
        self.protocol = Protocol(settings, toolbox, sessions, state, metrics=metrics, live=self.live)
        self.policy = HostPolicy(settings.allowed_origins, settings.allowed_hosts, settings.host)
        self.streamable = StreamableHttp(self)
        self.legacy = LegacySse(self)
        self.closing = asyncio.Event()
        self._streams: set[web.StreamResponse] = set()
        self.slots = StreamSlots(settings.max_streams_per_server, settings.max_streams_per_client)
        # One re-check at a time per scope ("" = every record, else a record id): a burst of events
        # for one record runs one re-check now and at most one more after it, not one per event.
        self._rechecks: dict[str, asyncio.Task[None]] = {}
        self._recheck_again: set[str] = set()
        # Tokens in use that stop resolving at a known time (a rotation's grace end), which the
        # token service deletes without an event: cut what they opened then.
        self._token_ends: dict[str, asyncio.TimerHandle] = {}
        resolver.add_listener(self.on_revocation)

    # -- revocations -------------------------------------------------------------------------

    def on_revocation(self, revocation: Revocation) -> None:
        """Cut (or re-check) the open work a revocation concerns (token resolver listener)."""
        if revocation.final:
            if revocation.api_token_id:
                self.live.cut_api_token(revocation.api_token_id)
            elif revocation.server_id:
                self.live.cut_server(revocation.server_id, remember=not revocation.local)
            elif revocation.token_key:
                self.live.cut_token(revocation.token_key)
            return
        key = revocation.server_id
        if key in self._rechecks:
            self._recheck_again.add(key)  # what it read may predate this event: once more after it
        elif self.live.tokens(key or None) or (not key and self.live.second_factors()):
            self._rechecks[key] = asyncio.create_task(self._rechecks_of(key), name="revocation-recheck")

    async def _grant_revoked(self, grant_id: str) -> None:
        try:
            await self.state.broadcast({"kind": _GRANT_REVOKED, "grant_id": grant_id})
        except StateUnavailable:
            # Not told to the others: they cut it at their next re-check (a watch reconnect); new
            # requests with its tokens are refused everywhere at once anyway (they read the store).
            self.live.cut_api_token(oauth_factor_id(grant_id), OAUTH_REVOKED_MESSAGE)

    def _on_grant_revoked(self, message: dict[str, Any]) -> None:
        self.live.cut_api_token(oauth_factor_id(str(message.get("grant_id", ""))), OAUTH_REVOKED_MESSAGE)

    async def _rechecks_of(self, key: str) -> None:
        """Re-check the tokens in use of one record (or of all when `key` is ""), again while asked."""
        try:
            while True:
                self._recheck_again.discard(key)
                tokens = self.live.tokens(key or None)
                # Every record (the watch reconnected, events may be lost): API token revocations too.
                factors = self.live.second_factors() if not key else {}
                await self._recheck(tokens, factors)
                if key not in self._recheck_again:
                    return
        finally:
            self._rechecks.pop(key, None)

    async def _recheck(self, tokens: dict[str, str], factors: dict[str, SecondFactor]) -> None:
        """Cut what was opened with a token that no longer resolves (a rotation without grace, ...),
        or with a second-factor API token that no longer verifies."""
        limit = asyncio.Semaphore(_RECHECK_CONCURRENCY)

        async def check(key: str, token: str) -> None:
            async with limit:
                try:
                    resolved = await self.resolver.resolve(token)
                except NotFound:
                    self.live.cut_token(key)
                    return
                except BackendUnavailable:
                    return  # unknown: keep it; the next request re-authorises anyway
                ends = resolved.token_expires_at
                if ends and ends != resolved.server_expires_at:
                    self._cut_token_at(key, ends)

        async def verify(factor: SecondFactor) -> None:
            async with limit:
                if is_oauth_factor(factor.id):
                    try:
                        if not await self.oauth.service.grant(factor.id.partition(":")[2]):
                            self.live.cut_api_token(factor.id, OAUTH_REVOKED_MESSAGE)
                    except OAuthStoreUnavailable:
                        pass  # unknown: keep it; the next request checks its access token anyway
                    return
                try:
                    await self.resolver.verify_api_token(factor.authorization, factor.account_id)
                except Unauthorized:
                    self.live.cut_api_token(factor.id)
                except BackendUnavailable:
                    return  # unknown: keep it; the next request verifies it anyway

        await asyncio.gather(
            *(check(k, t) for k, t in tokens.items()), *(verify(f) for f in factors.values())
        )

    def _cut_token_at(self, key: str, ends: float) -> None:
        previous = self._token_ends.pop(key, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._token_ends[key] = loop.call_later(max(0.0, ends - time.time()), self._token_ended, key)

    def _token_ended(self, key: str) -> None:
        self._token_ends.pop(key, None)
        self.live.cut_token(key)

    async def authorize(self, request: web.Request) -> Resolved:
        """Host/Origin, token and second factor checks; raises an HTTP error response."""
        if not self.policy.host_ok(request.headers.get("Host")):
            raise _error(421, INVALID_REQUEST, "Misdirected Request: Host not allowed")
        if not self.policy.origin_ok(request.headers.get("Origin")):
            raise _error(403, INVALID_REQUEST, "Forbidden: Origin not allowed")
        if self.closing.is_set():
            raise _error(503, INTERNAL_ERROR, "Server shutting down; retry", {"Retry-After": "1"})
        token, authorization = _credentials(request)
        try:
            resolved = await self.resolver.resolve(token)
            if resolved.require_oauth:
                factor = await self._check_oauth(request, resolved, token, authorization)
                resolved = dataclasses.replace(resolved, second_factor=factor)
            elif resolved.require_api_token:
                factor = await self.resolver.verify_api_token(authorization, resolved.scope.account_id)
                resolved = dataclasses.replace(resolved, second_factor=factor)
        except NotFound:
            raise _error(404, INVALID_REQUEST, "Not Found") from None
        except Unauthorized:
            raise _error(
                401,
                INVALID_REQUEST,
                "Unauthorized: this MCP server requires an API token (Authorization: Bearer <token> "
                f"on /mcp/<url token>, {API_TOKEN_HEADER}: <token> on /mcp)",
                {"WWW-Authenticate": WWW_AUTHENTICATE},
            ) from None
        except BackendUnavailable:
            raise _error(
                503,
                INTERNAL_ERROR,
                "Service Unavailable: the token service is unreachable; retry shortly",
                {"Retry-After": "5"},
            ) from None
        request[_URL_TOKEN] = token
        request[SERVER_ID] = resolved.scope.server_id
        return resolved

    async def _check_oauth(
        self, request: web.Request, resolved: Resolved, token: str, authorization: str | None
    ) -> SecondFactor:
        """401 with the protected-resource metadata's address unless the request carries an access
        token for this server (oauth/http.py); 503 when the grant store is down."""
        try:
            grant = await self.oauth.verify(request, resolved, authorization)
        except OAuthStoreUnavailable:
            raise _error(
                503,
                INTERNAL_ERROR,
                "Service Unavailable: the grant store is unreachable",
                {"Retry-After": "5"},
            ) from None
        if grant is None:
            raise _error(
                401,
                INVALID_REQUEST,
                "Unauthorized: this MCP server requires signing in with OAuth (see WWW-Authenticate)",
                {"WWW-Authenticate": self.oauth.challenge(request, token, authorization is not None)},
            )
        # Held by what the request opens (streams, calls, tasks), so revoking the grant cuts it.
        return SecondFactor(oauth_factor_id(grant.id), resolved.scope.account_id, authorization or "")

    @staticmethod
    def url_token(request: web.Request) -> str:
        """The URL token `authorize` accepted for this request (from the path or Authorization)."""
        return request[_URL_TOKEN]

    async def read_body(self, request: web.Request) -> bytes:
        """The request body, or 413 beyond `max_body_bytes`."""
        limit = self.settings.max_body_bytes
        # The 413 is built only when needed: building it (a JSON body and an HTTPException) cost
        # every request a few percent of the façade's CPU.
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                async for chunk in request.content.iter_any():
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(limit)
                    chunks.append(chunk)
        except TimeoutError:
            self.tripped("body_timeout")
            raise _too_slow(self.settings.body_timeout_s) from None
        return b"".join(chunks)

    def tripped(self, limit: str) -> None:
        """Count a refusal by a resource bound (gmcp_facade_limit_tripped_total)."""
        if self.metrics is not None:
            self.metrics.tripped(limit)

    @contextlib.contextmanager
    def stream_slot(self, request: web.Request, server_id: str) -> Iterator[None]:
        """Hold one of the server's and the client address's stream slots, or raise 429."""
        client = request.remote or ""
        refused = self.slots.acquire(server_id, client)
        if refused is not None:
            self.tripped(refused)
            raise self.slots.refusal(refused)
        try:
            yield
        finally:
            self.slots.release(server_id, client)

    def sse_response(self) -> web.StreamResponse:
        """A prepared-to-be SSE response with anti-buffering headers."""
        return web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache, no-transform",
                "X-Accel-Buffering": "no",
                "Connection": "keep-alive",
            }
        )

    def stream_opened(self, response: web.StreamResponse) -> None:
        """Track an open SSE stream."""
        self._streams.add(response)
        if self.metrics is not None:
            self.metrics.active_sse.inc()

    def stream_closed(self, response: web.StreamResponse) -> None:
        """Forget a closed SSE stream."""
        if response in self._streams:
            self._streams.discard(response)
            if self.metrics is not None:
                self.metrics.active_sse.dec()

    async def shutdown(self, grace_s: float) -> None:
        """Refuse new requests, end streams, give in-flight calls `grace_s`, then cancel them."""
        self.closing.set()  # new requests get 503; idle GET streams end
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self.protocol.inflight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await self.legacy.close()
        await self.protocol.close()
        for task in list(self._rechecks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for timer in self._token_ends.values():
            timer.cancel()
        self._token_ends.clear()
        await self.oauth.service.store.close()


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
) -> tuple[web.Application, FacadeApp]:
    """The public aiohttp application and its state."""
    # The body ceiling is enforced in read_body (413 with a JSON-RPC error); aiohttp's own
    # limit only guards against handlers that would read without one.
    app = web.Application(
        middlewares=[access_log_middleware(metrics)], client_max_size=settings.max_body_bytes + 1
    )
    facade = FacadeApp(settings, toolbox, resolver, sessions, state, metrics=metrics, oauth=oauth)
    app[FACADE_KEY] = facade
    route: Any = app.router
    route.add_post("/mcp/{token}", facade.streamable.post)
    route.add_get("/mcp/{token}", facade.streamable.get)
    route.add_delete("/mcp/{token}", facade.streamable.delete)
    route.add_get("/mcp/{token}/sse", facade.legacy.stream)
    route.add_post("/mcp/{token}/messages", facade.legacy.post)
    # The URL token in `Authorization: Bearer` instead of the path (Streamable HTTP only).
    route.add_post("/mcp", facade.streamable.post)
    route.add_get("/mcp", facade.streamable.get)
    route.add_delete("/mcp", facade.streamable.delete)
    route.add_route("OPTIONS", "/mcp", _preflight)
    route.add_route("OPTIONS", "/mcp/{token}", _preflight)
    route.add_route("OPTIONS", "/mcp/{token}/messages", _preflight)
    app.on_response_prepare.append(_cors_hook(facade.policy))
    app.on_response_prepare.append(add_request_id_header)
    health.add_routes(app)
    # OAuth (oauth/http.py): metadata of require_oauth servers and the authorization server's endpoints.
    facade.oauth.add_routes(app)
    # Any other discovery probe gets a plain 404 (so does the protected-resource metadata of a server
    # without OAuth: authless or API tokens).
    route.add_get("/.well-known/{rest:.*}", _not_found)
    return app, facade
