"""Management API routes of OAuth servers: mint a connect code, list who connected, revoke a grant.

They live under an MCP server of an account (`/integrated-account/{account_id}/mcp/{mcp_id}/oauth/…`)
and take the same management token and ownership check as the server's own routes (management.py
adds them to its route table, so the OpenAPI document lists them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from ..management.management_models import _Body, _strict_int
from .service import OAuthService
from .store import StoreUnavailable

__all__ = [
    "MANAGEMENT_HOOKS",
    "OAUTH_SERVICE",
    "ManagementHooks",
    "ConnectCodeCreate",
    "ConnectCodeOut",
    "GrantList",
    "GrantOut",
    "ManagementHooks",
    "create_connect_code",
    "list_grants",
    "revoke_grant",
]

OAUTH_SERVICE: Final = web.AppKey("oauth_service", OAuthService)


@dataclass(frozen=True)
class ManagementHooks:
    """What these routes borrow from the management app (management/management.py sets it on the admin
    app), passed in rather than imported so the route table can import this module without a cycle."""

    api_error: Callable[..., Exception]
    owned_server: Callable[[web.Request], Awaitable[Any]]
    parse_body: Callable[..., Awaitable[Any]]


MANAGEMENT_HOOKS: Final = web.AppKey("oauth_management_hooks", ManagementHooks)
MIN_CONNECT_TTL_S: Final = 60
MAX_CONNECT_TTL_S: Final = 7 * 86400


class ConnectCodeCreate(_Body):
    """Body of POST …/mcp/{mcp_id}/oauth/connect-codes."""

    subject: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"
        ),
    ] = Field(description="who the code is for (e.g. their email): recorded as the grant's subject")
    ttl_seconds: Annotated[int, BeforeValidator(_strict_int)] = Field(
        default=3600,
        ge=MIN_CONNECT_TTL_S,
        le=MAX_CONNECT_TTL_S,
        description=f"how long the code can be used (once); {MIN_CONNECT_TTL_S} to {MAX_CONNECT_TTL_S} s",
    )


class ConnectCodeOut(BaseModel):
    """A connect code: shown once; the person types it on the consent page."""

    code: str
    mcp_server_id: str
    subject: str
    expires_at: datetime


class GrantOut(BaseModel):
    """One person's connection of one client to the MCP server."""

    id: str
    subject: str
    client_id: str
    client_name: str
    created_at: datetime
    last_used_at: datetime = Field(description="last refresh or request (updated at most once a minute)")
    expires_at: datetime = Field(description="when it ends unless refreshed")
    sign_in: Literal["connect_code", "oidc"] = Field(
        default="connect_code",
        description="how the person proved who they are: an operator's connect code, or the identity "
        "provider (then subject is their verified email, and config.oauth_allowed_* is checked on every use)",
    )
    groups: list[str] = Field(
        default_factory=list, description="the identity provider's groups for the person"
    )


class GrantList(BaseModel):
    """The grants of an MCP server, oldest first."""

    result: list[GrantOut]


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


async def _oauth_server(request: web.Request, *, require_oauth: bool = True) -> tuple[OAuthService, str]:
    """The service and the id of the path's MCP server, which must exist in the path's account (and,
    to mint connect codes, sign in with OAuth; grants outlive turning OAuth off, so they stay listed
    and revocable)."""
    hooks = request.app[MANAGEMENT_HOOKS]
    server = await hooks.owned_server(request)
    if require_oauth and not server.require_oauth:
        raise hooks.api_error(
            409, "failed_precondition", "this MCP server does not sign in with OAuth (set require_oauth)"
        )
    return request.app[OAUTH_SERVICE], server.id


def _store_down(request: web.Request) -> Exception:
    api_error = request.app[MANAGEMENT_HOOKS].api_error
    return api_error(503, "unavailable", "the OAuth grant store is unavailable; retry shortly")


async def create_connect_code(request: web.Request) -> web.Response:
    """Mint a one-time connect code that lets one person connect a client to an OAuth MCP server."""
    body = await request.app[MANAGEMENT_HOOKS].parse_body(request, ConnectCodeCreate)
    service, server_id = await _oauth_server(request)
    if service.oidc is not None:
        raise request.app[MANAGEMENT_HOOKS].api_error(
            409,
            "failed_precondition",
            "people sign in with the identity provider here (GMCP_FACADE_OIDC_ISSUER), not with connect "
            "codes: allow them through the server's config.oauth_allowed_emails, _domains or _groups",
        )
    try:
        code = await service.mint_connect_code(
            server_id, request.match_info["account_id"], body.subject, body.ttl_seconds
        )
    except StoreUnavailable:
        raise _store_down(request) from None
    expires = datetime.now(UTC).timestamp() + body.ttl_seconds
    out = ConnectCodeOut(code=code, mcp_server_id=server_id, subject=body.subject, expires_at=_dt(expires))
    return web.json_response(out.model_dump(mode="json"), status=201, headers={"Cache-Control": "no-store"})


async def list_grants(request: web.Request) -> web.Response:
    """List who has connected to an OAuth MCP server (subject, client, first and last use)."""
    service, server_id = await _oauth_server(request, require_oauth=False)
    try:
        grants = await service.grants(server_id)
    except StoreUnavailable:
        raise _store_down(request) from None
    out = GrantList(
        result=[
            GrantOut(
                id=g.id,
                subject=g.subject,
                client_id=g.client_id,
                client_name=g.client_name,
                created_at=_dt(g.created_at),
                last_used_at=_dt(g.last_used_at),
                expires_at=_dt(g.expires_at),
                sign_in="oidc" if g.method == "oidc" else "connect_code",
                groups=list(g.groups),
            )
            for g in grants
        ]
    )
    return web.json_response(out.model_dump(mode="json"))


async def revoke_grant(request: web.Request) -> web.Response:
    """Revoke one grant: that person's client loses access on every replica at once."""
    api_error = request.app[MANAGEMENT_HOOKS].api_error
    service, server_id = await _oauth_server(request, require_oauth=False)
    grant_id = request.match_info["grant_id"]
    try:
        grant = await service.grant(grant_id)
        if grant is None or grant.server_id != server_id:
            raise api_error(404, "not_found", "no such grant for this MCP server")
        await service.revoke_grant(grant_id)
    except StoreUnavailable:
        raise _store_down(request) from None
    return web.Response(status=204)
