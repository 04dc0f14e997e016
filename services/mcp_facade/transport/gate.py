"""The gate every MCP request passes before a transport sees it (an aiohttp middleware).

On the MCP routes (`/mcp`, `/mcp/{token}`, `/mcp/{token}/sse`, `/mcp/{token}/messages`; not their
CORS preflights), in order: Host (421) and Origin (403) checks (security.py), 503 while shutting
down, the URL token (404 with one generic body for unknown, malformed, missing, expired and
revoked tokens; 503 when the token service is down), the record's second factor (an API token,
or an OAuth access token: 401 with `WWW-Authenticate`), and for a POST its body, read within
`body_timeout_s` (408) and up to `max_body_bytes` (413). Only then is the transport's handler
called; it finds the outcome on the request (`resolved`, `url_token`, `body`).

The URL token travels in the path (`/mcp/{token}`) or, on the tokenless `/mcp`, in
`Authorization: Bearer gmcp_...`; the second-factor API token goes in `Authorization` on
`/mcp/{token}` and in `X-Gumloop-MCP-API-Token` on `/mcp`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Collection
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_urldispatcher import AbstractResource

from ..oauth import OAuthEndpoints, oauth_factor_id
from ..oauth.store import StoreUnavailable as OAuthStoreUnavailable
from ..protocol.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, JsonRpcError, error_response
from ..protocol.live import SecondFactor
from .accesslog import SERVER_ID
from .auth import BackendUnavailable, NotFound, Resolved, TokenResolver, Unauthorized
from .security import HostPolicy
from .streams import Tripped

__all__ = ["API_TOKEN_HEADER", "McpGate", "body", "resolved", "url_token"]

# The second-factor API token on `/mcp`, whose Authorization header carries the URL token.
API_TOKEN_HEADER: Final = "X-Gumloop-MCP-API-Token"
WWW_AUTHENTICATE: Final = 'Bearer realm="gumloop-mcp"'
# What the gate found, for the handler.
_RESOLVED: Final = web.RequestKey("gmcp_resolved", Resolved)
# The URL token a request was authorised with (from the path or the Authorization header).
_URL_TOKEN: Final = web.RequestKey("gmcp_url_token", str)
_BODY: Final = web.RequestKey("gmcp_body", bytes)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def resolved(request: web.Request) -> Resolved:
    """The scope (and second factor) the gate authorised this request for."""
    return request[_RESOLVED]


def url_token(request: web.Request) -> str:
    """The URL token the gate accepted for this request (from the path or Authorization)."""
    return request[_URL_TOKEN]


def body(request: web.Request) -> bytes:
    """The body of a POST, read by the gate within its bounds."""
    return request[_BODY]


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    error = error_response(None, JsonRpcError(code, message))
    exc = web.HTTPException(
        text=web.json_response(error).text, content_type="application/json", headers=headers or {}
    )
    exc.set_status(status)
    return exc


def _too_large(limit: int) -> web.HTTPException:
    return _error(413, INVALID_REQUEST, f"Request body larger than {limit} bytes")


def _too_slow(timeout_s: float) -> web.HTTPException:
    return _error(
        408, INVALID_REQUEST, f"Request Timeout: the body did not arrive within {timeout_s:g} seconds"
    )


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


@dataclasses.dataclass(frozen=True, slots=True)
class BodyLimits:
    """How much and how slowly a POST body may arrive."""

    max_bytes: int
    timeout_s: float


class McpGate:
    """Host/Origin, shutdown, token and second-factor checks, and the body read of MCP requests."""

    def __init__(
        self,
        policy: HostPolicy,
        resolver: TokenResolver,
        oauth: OAuthEndpoints,
        closing: asyncio.Event,
        limits: BodyLimits,
        tripped: Tripped,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._oauth = oauth
        self._closing = closing
        self._limits = limits
        self._tripped = tripped

    def middleware(self, guarded: Collection[AbstractResource]) -> Middleware:
        """The middleware passing requests to `guarded` resources (but CORS preflights) through the gate."""
        resources = frozenset(guarded)

        @web.middleware
        async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.method == "OPTIONS" or request.match_info.route.resource not in resources:
                return await handler(request)
            await self.authorize(request)
            if request.method == "POST":
                request[_BODY] = await self._read_body(request)
            return await handler(request)

        return gate

    async def authorize(self, request: web.Request) -> Resolved:
        """Host/Origin, token and second factor checks; raises an HTTP error response."""
        if not self._policy.host_ok(request.headers.get("Host")):
            raise _error(421, INVALID_REQUEST, "Misdirected Request: Host not allowed")
        if not self._policy.origin_ok(request.headers.get("Origin")):
            raise _error(403, INVALID_REQUEST, "Forbidden: Origin not allowed")
        if self._closing.is_set():
            raise _error(503, INTERNAL_ERROR, "Server shutting down; retry", {"Retry-After": "1"})
        token, authorization = _credentials(request)
        try:
            found = await self._resolver.resolve(token)
            if found.require_oauth:
                factor = await self._check_oauth(request, found, token, authorization)
                found = dataclasses.replace(found, second_factor=factor)
            elif found.require_api_token:
                factor = await self._resolver.verify_api_token(authorization, found.scope.account_id)
                found = dataclasses.replace(found, second_factor=factor)
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
        request[SERVER_ID] = found.scope.server_id
        request[_RESOLVED] = found
        return found

    async def _check_oauth(
        self, request: web.Request, found: Resolved, token: str, authorization: str | None
    ) -> SecondFactor:
        """401 with the protected-resource metadata's address unless the request carries an access
        token for this server (oauth/http.py); 503 when the grant store is down."""
        try:
            grant = await self._oauth.verify(request, found, authorization)
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
                {"WWW-Authenticate": self._oauth.challenge(request, token, authorization is not None)},
            )
        # Held by what the request opens (streams, calls, tasks), so revoking the grant cuts it.
        return SecondFactor(oauth_factor_id(grant.id), found.scope.account_id, authorization or "")

    async def _read_body(self, request: web.Request) -> bytes:
        """The request body, or 413 beyond `max_bytes` / 408 when slower than `timeout_s`."""
        limit = self._limits.max_bytes
        # The 413 is built only when needed: building it (a JSON body and an HTTPException) cost
        # every request a few percent of the façade's CPU.
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                async for chunk in request.content.iter_any():
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(limit)
                    chunks.append(chunk)
        except TimeoutError:
            self._tripped("body_timeout")
            raise _too_slow(self._limits.timeout_s) from None
        return b"".join(chunks)
