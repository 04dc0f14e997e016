"""The management REST API on the admin port (Truto-compatible routes), over the gRPC backends.

Every route except /openapi.json (and health/metrics, added by server.py) needs
`Authorization: Bearer gmcpat_...`, verified by TokenService.VerifyApiToken with purpose
MANAGEMENT (bound to the path's account when there is one). A token bound to an account only
works under /integrated-account/{that account}/...; the routes naming no account (all accounts,
API tokens) need an unbound token (403 otherwise). /openapi.json is public: schema, no data.
Backend errors map in ONE place (`_grpc_error`): INVALID_ARGUMENT -> 400 with field violations,
NOT_FOUND -> 404,
ALREADY_EXISTS/FAILED_PRECONDITION -> 409, UNAUTHENTICATED -> 401, PERMISSION_DENIED -> 403,
UNAVAILABLE/DEADLINE_EXCEEDED -> 503.

One middleware fronts every route of the admin port (health and metrics too): Host and Origin are
checked like on the public port (security.HostPolicy with GMCP_FACADE_ADMIN_ALLOWED_HOSTS/_ORIGINS;
loopback-only by default), and every error, aiohttp's own 404/405 included, is the JSON envelope.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import grpc
from aiohttp import web
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ValidationError

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb
from gumloop_mcp.runtime import field_violations, is_caller_refusal
from gumloop_mcp.scope import METHOD_GROUPS
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as tpb

from ..audit import AuditStore, MemoryAuditStore
from ..audit.api import ActivityOut, InvalidActivityQuery, activity_response, query_parameters
from ..audit.export import CSV_CONTENT_TYPE
from ..audit.health import credential_state
from ..audit.store import AuditUnavailable
from ..console.app import CONSOLE_PREFIX
from ..console.callback import CALLBACK_PATH, account_callback_page, prefers_html
from ..console.mount import attach_console
from ..console.preview import ScopePreview, UnknownScopeError, scope_preview
from ..oauth import OAuthService, open_oauth
from ..oauth import management as oauth_routes
from ..settings import FacadeSettings
from ..state.backends import Backends
from ..tools.naming import kind_name, tool_names
from ..transport.auth import Revocation
from ..transport.security import HostPolicy
from .management_models import (
    ID_PATTERN,
    AccountCreate,
    AccountOAuthReconnect,
    AccountOAuthStart,
    AccountOAuthStarted,
    AccountOut,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    CatalogOperation,
    CatalogOut,
    Handler,
    McpConfig,
    McpServerCreate,
    McpServerOut,
    McpServerPatch,
    RotateRequest,
    Route,
)
from .management_openapi import openapi_document

__all__ = ["ROUTES", "Route", "create_admin_app"]

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)
_SETTINGS: Final = web.AppKey("settings", FacadeSettings)
_BACKENDS: Final = web.AppKey("backends", Backends)
_POLICY: Final = web.AppKey("host_policy", HostPolicy)
_AUDIT: Final = web.AppKey("audit", AuditStore)
# Told each change made here (server.py passes the token resolver's `witness`), so the URL of a
# deleted, updated or rotated server and a revoked API token change on this replica at once.
_WITNESS: Final = web.AppKey[Callable[[Revocation], None]]("witness")
_TIMEOUT_S: Final = 10.0
_PURPOSES: Final = {
    "management": tpb.API_TOKEN_PURPOSE_MANAGEMENT,
    "mcp_client": tpb.API_TOKEN_PURPOSE_MCP_CLIENT,
}
_HTTP_OF: Final = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_argument"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid_argument"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "already_exists"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "failed_precondition"),
    # The token service gives up on an update whose scope kept changing under it: retry it.
    grpc.StatusCode.ABORTED: (409, "aborted"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_denied"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "resource_exhausted"),
    grpc.StatusCode.UNAVAILABLE: (503, "unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (503, "unavailable"),
}


class ApiError(Exception):
    """An error response: HTTP status, code, message and field violations."""

    def __init__(self, status: int, code: str, message: str, fields: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []


def _error_response(err: ApiError) -> web.Response:
    body = {
        "error": {
            "code": err.code,
            "message": err.message,
            "fields": [{"field": f, "description": d} for f, d in err.fields],
        }
    }
    headers = {"WWW-Authenticate": 'Bearer realm="gumloop-mcp"'} if err.status == 401 else None
    return web.json_response(body, status=err.status, headers=headers)


def _grpc_error(err: grpc.aio.AioRpcError) -> ApiError:
    if is_caller_refusal(err):  # the façade's own service credential, not the API caller's
        logger.error("a backend refused the façade's caller token (check its configuration)")
        return ApiError(503, "unavailable", "a backend service refused this gateway's configuration")
    status, code = _HTTP_OF.get(err.code(), (500, "internal"))
    if status == 503:
        return ApiError(503, code, "a backend service is unavailable; retry shortly")
    if status == 500:
        logger.error("backend error %s", err.code().name)
        return ApiError(500, code, "internal error")
    fields = [(_rest_field(f), d) for f, d in field_violations(err)]
    if fields:  # the message in REST terms: every violation, e.g. "expires_at: must lie at least 60 s ahead"
        return ApiError(status, code, "; ".join(f"{f}: {d}" for f, d in fields), fields)
    return ApiError(status, code, err.details() or code, fields)


def _rest_field(field: str) -> str:
    """A gRPC field path in REST terms: no message prefix, REST field names."""
    for prefix in ("mcp_server.", "api_token.", "account.", "credential."):
        if field.startswith(prefix):
            field = field[len(prefix) :]
            break
    field = field.replace("expire_time", "expires_at").replace("purposes", "purpose")
    return "grace_period_seconds" if field == "grace_period" else field


# --- conversions --------------------------------------------------------------------------------


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def _dt(msg: Any, field: str) -> datetime | None:
    if not msg.HasField(field):
        return None
    value: datetime = getattr(msg, field).ToDatetime(tzinfo=UTC)
    return value


def _config_message(config: McpConfig) -> tpb.McpServerConfig:
    """The token service's config: "default" exposure is the empty string there."""
    return tpb.McpServerConfig(
        methods=config.methods,
        tags=config.tags,
        tool_exposure="" if config.tool_exposure == "default" else config.tool_exposure,
        context_budget_tokens=config.context_budget_tokens,
        audit_payloads=config.audit_payloads,
        oauth_allowed_emails=config.oauth_allowed_emails,
        oauth_allowed_domains=config.oauth_allowed_domains,
        oauth_allowed_groups=config.oauth_allowed_groups,
    )


def _server_out(s: tpb.McpServer, url: str | None = None) -> McpServerOut:
    return McpServerOut(
        id=s.id,
        name=s.name,
        account_id=s.account_id,
        config=McpConfig(
            methods=list(s.config.methods),
            tags=list(s.config.tags),
            tool_exposure=s.config.tool_exposure or "default",
            context_budget_tokens=s.config.context_budget_tokens,
            audit_payloads=s.config.audit_payloads,
            oauth_allowed_emails=list(s.config.oauth_allowed_emails),
            oauth_allowed_domains=list(s.config.oauth_allowed_domains),
            oauth_allowed_groups=list(s.config.oauth_allowed_groups),
        ),
        expires_at=_dt(s, "expire_time"),
        require_api_token_auth=s.require_api_token_auth,
        require_oauth=s.require_oauth,
        created_at=_dt(s, "create_time"),
        last_used_at=_dt(s, "last_used_time"),
        token_prefix=s.token_prefix,
        url=url,
    )


def _account_out(a: ppb.IntegratedAccount) -> AccountOut:
    kinds = {
        ppb.CREDENTIAL_KIND_API_KEY: "api_key",
        ppb.CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN: "access_token",
        ppb.CREDENTIAL_KIND_OAUTH_CONNECTION: "oauth_connection",
    }
    states = {
        ppb.ACCOUNT_STATE_UNSPECIFIED: "active",  # a proxy older than v1.1
        ppb.ACCOUNT_STATE_ACTIVE: "active",
        ppb.ACCOUNT_STATE_PENDING_AUTHORIZATION: "pending_authorization",
        ppb.ACCOUNT_STATE_NEEDS_RECONNECTION: "needs_reconnection",
    }
    return AccountOut(
        id=a.id,
        display_name=a.display_name,
        credential_kind=kinds.get(a.credential_kind, "unspecified"),
        user_id=a.user_id,
        team_id=a.team_id,
        project_id=a.project_id,
        api_base_url=a.api_base_url,
        stream_base_url=a.stream_base_url,
        created_at=_dt(a, "create_time"),
        state=states.get(a.state, "unspecified"),
        access_token_expires_at=_dt(a, "access_token_expire_time"),
    )


def _token_out(t: tpb.ApiToken) -> dict[str, Any]:
    names = {v: k for k, v in _PURPOSES.items()}
    return ApiTokenOut(
        id=t.id,
        name=t.name,
        purpose=[names.get(p, "unspecified") for p in t.purposes],
        account_id=t.account_id,
        expires_at=_dt(t, "expire_time"),
        created_at=_dt(t, "create_time"),
        last_used_at=_dt(t, "last_used_time"),
        token_prefix=t.token_prefix,
    ).model_dump(mode="json")


def _mcp_url(settings: FacadeSettings, token: str) -> str:
    base = settings.public_base_url or f"http://{_url_host(settings.host)}:{settings.port}"
    return f"{base.rstrip('/')}/mcp/{token}"


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


async def _body(request: web.Request, model: type[_M], *, optional: bool = False) -> _M:
    if optional and not (await request.read()).strip():
        return model()
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        # RecursionError: a nesting bomb (1 MiB of '[') exhausts the decoder's depth.
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        raise ApiError(400, "invalid_argument", "the request body is invalid", fields) from None


def _page_args(request: web.Request) -> tuple[int, str]:
    raw = request.query.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_argument", "bad limit", [("limit", "must be an integer")]) from None
    if not 1 <= limit <= 100:
        raise ApiError(400, "invalid_argument", "bad limit", [("limit", "must be between 1 and 100")])
    return limit, request.query.get("next_cursor", "")


def _page(items: list[Any], cursor: str) -> web.Response:
    return web.json_response({"result": items, "next_cursor": cursor or None})


# --- handlers -----------------------------------------------------------------------------------


async def create_mcp(request: web.Request) -> web.Response:
    """Mint an MCP server for an account; the response's url carries the token (shown once)."""
    body = await _body(request, McpServerCreate)
    server = tpb.McpServer(
        name=body.name,
        account_id=request.match_info["account_id"],
        config=_config_message(body.config),
        require_api_token_auth=body.require_api_token_auth,
        require_oauth=body.require_oauth,
    )
    if (ts := _ts(body.expires_at)) is not None:
        server.expire_time.CopyFrom(ts)
    resp = await request.app[_BACKENDS].tokens.CreateMcpServer(
        tpb.CreateMcpServerRequest(mcp_server=server), timeout=_TIMEOUT_S
    )
    url = _mcp_url(request.app[_SETTINGS], resp.token)
    return web.json_response(_server_out(resp.mcp_server, url).model_dump(mode="json"), status=201)


async def _owned_server(request: web.Request) -> tpb.McpServer:
    # One answer for "does not exist" and "belongs to another account": no probing other accounts.
    missing = ApiError(404, "not_found", "no such MCP server for this account")
    try:
        resp = await request.app[_BACKENDS].tokens.GetMcpServer(
            tpb.GetMcpServerRequest(id=request.match_info["mcp_id"]), timeout=_TIMEOUT_S
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise missing from None
        raise
    if resp.mcp_server.account_id != request.match_info["account_id"]:
        raise missing
    server: tpb.McpServer = resp.mcp_server
    return server


async def _with_activity(request: web.Request, out: McpServerOut) -> dict[str, Any]:
    """The server's JSON with last_call_at and calls_24h from the audit trail (null when it is down)."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    try:
        last_ms, calls = await request.app[_AUDIT].summary(out.id, now_ms - 86_400_000)
    except AuditUnavailable:
        return out.model_dump(mode="json")
    out.last_call_at = None if last_ms is None else datetime.fromtimestamp(last_ms / 1000, tz=UTC)
    out.calls_24h = calls
    return out.model_dump(mode="json")


# For the OAuth routes (oauth/management.py), which share the ownership check and body parsing.
owned_server = _owned_server
parse_body = _body


async def list_mcp(request: web.Request) -> web.Response:
    """List an account's MCP servers (paginated)."""
    limit, cursor = _page_args(request)
    resp = await request.app[_BACKENDS].tokens.ListMcpServers(
        tpb.ListMcpServersRequest(
            account_id=request.match_info["account_id"], page_size=limit, page_token=cursor
        ),
        timeout=_TIMEOUT_S,
    )
    items = list(await asyncio.gather(*(_with_activity(request, _server_out(s)) for s in resp.mcp_servers)))
    return _page(items, resp.next_page_token)


async def get_mcp(request: web.Request) -> web.Response:
    """One MCP server (without its token)."""
    return web.json_response(await _with_activity(request, _server_out(await _owned_server(request))))


async def patch_mcp(request: web.Request) -> web.Response:
    """Change name, config, expiry or second-factor requirement."""
    body = await _body(request, McpServerPatch)
    await _owned_server(request)
    server = tpb.McpServer(id=request.match_info["mcp_id"])
    paths: list[str] = []
    if body.name is not None:
        server.name = body.name
        paths.append("name")
    if body.config is not None:
        server.config.CopyFrom(_config_message(body.config))
        paths.append("config")
    if "expires_at" in body.model_fields_set:
        if (ts := _ts(body.expires_at)) is not None:
            server.expire_time.CopyFrom(ts)
        paths.append("expire_time")
    # One second factor at most: turning one on turns the other off in the same update.
    if body.require_api_token_auth is not None:
        server.require_api_token_auth = body.require_api_token_auth
        paths.append("require_api_token_auth")
        if body.require_api_token_auth and body.require_oauth is None:
            paths.append("require_oauth")
    if body.require_oauth is not None:
        server.require_oauth = body.require_oauth
        paths.append("require_oauth")
        if body.require_oauth and body.require_api_token_auth is None:
            paths.append("require_api_token_auth")
    if not paths:
        raise ApiError(400, "invalid_argument", "nothing to update", [("body", "give at least one field")])
    resp = await request.app[_BACKENDS].tokens.UpdateMcpServer(
        tpb.UpdateMcpServerRequest(mcp_server=server, update_mask=FieldMask(paths=paths)),
        timeout=_TIMEOUT_S,
    )
    request.app[_WITNESS](Revocation(server_id=resp.mcp_server.id))
    return web.json_response(_server_out(resp.mcp_server).model_dump(mode="json"))


async def delete_mcp(request: web.Request) -> web.Response:
    """Delete an MCP server; its URL stops working at once."""
    server = await _owned_server(request)
    await request.app[_BACKENDS].tokens.DeleteMcpServer(
        tpb.DeleteMcpServerRequest(id=server.id), timeout=_TIMEOUT_S
    )
    request.app[_WITNESS](Revocation(server_id=server.id, final=True))
    return web.Response(status=204)


async def rotate_mcp(request: web.Request) -> web.Response:
    """Issue a new token (new url); the old one works for grace_period_seconds (default 0), then stops."""
    body = await _body(request, RotateRequest, optional=True)
    server = await _owned_server(request)
    rotate = tpb.RotateMcpServerTokenRequest(id=server.id)
    rotate.grace_period.FromSeconds(body.grace_period_seconds)
    resp = await request.app[_BACKENDS].tokens.RotateMcpServerToken(rotate, timeout=_TIMEOUT_S)
    request.app[_WITNESS](Revocation(server_id=server.id))
    out = _server_out(resp.mcp_server, _mcp_url(request.app[_SETTINGS], resp.token))
    out.old_url_expires_at = _dt(resp, "old_token_expire_time")
    return web.json_response(out.model_dump(mode="json"))


async def create_account(request: web.Request) -> web.Response:
    """Connect a Gumloop account; the credential is stored encrypted and never echoed."""
    body = await _body(request, AccountCreate)
    if body.api_key is not None:
        cred = ppb.Credential(kind=ppb.CREDENTIAL_KIND_API_KEY, secret=body.api_key.get_secret_value())
    else:
        assert body.access_token is not None
        secret = body.access_token.get_secret_value()
        cred = ppb.Credential(kind=ppb.CREDENTIAL_KIND_OAUTH_ACCESS_TOKEN, secret=secret)
    account = _account_in(body)
    resp = await request.app[_BACKENDS].proxy.CreateIntegratedAccount(
        ppb.CreateIntegratedAccountRequest(account=account, credential=cred), timeout=_TIMEOUT_S
    )
    return web.json_response(_account_out(resp.account).model_dump(mode="json"), status=201)


async def _with_state(request: web.Request, account: ppb.IntegratedAccount) -> dict[str, Any]:
    """The account's JSON with its credential state from its servers' audit trails."""
    out = _account_out(account)
    if out.state != "active":
        return out.model_dump(mode="json")  # the proxy's own word (OAuth pending or refused) wins
    server_ids: list[str] = []
    page_token = ""
    while True:
        resp = await request.app[_BACKENDS].tokens.ListMcpServers(
            tpb.ListMcpServersRequest(account_id=account.id, page_size=100, page_token=page_token),
            timeout=_TIMEOUT_S,
        )
        server_ids += [s.id for s in resp.mcp_servers]
        page_token = resp.next_page_token
        if not page_token:
            break
    try:
        state = await credential_state(request.app[_AUDIT], server_ids)
    except AuditUnavailable:
        out.state = "unknown"
        return out.model_dump(mode="json")
    if state.needs_reconnection and state.rejected_at_ms is not None:
        out.state = "needs_reconnection"
        out.credentials_rejected_at = datetime.fromtimestamp(state.rejected_at_ms / 1000, tz=UTC)
    return out.model_dump(mode="json")


async def list_accounts(request: web.Request) -> web.Response:
    """List integrated accounts (paginated), each with its credential state."""
    limit, cursor = _page_args(request)
    resp = await request.app[_BACKENDS].proxy.ListIntegratedAccounts(
        ppb.ListIntegratedAccountsRequest(page_size=limit, page_token=cursor), timeout=_TIMEOUT_S
    )
    items = await asyncio.gather(*(_with_state(request, a) for a in resp.accounts))
    return _page(list(items), resp.next_page_token)


async def get_account(request: web.Request) -> web.Response:
    """One integrated account, with its credential state."""
    resp = await request.app[_BACKENDS].proxy.GetIntegratedAccount(
        ppb.GetIntegratedAccountRequest(account_id=request.match_info["account_id"]), timeout=_TIMEOUT_S
    )
    return web.json_response(await _with_state(request, resp.account))


async def delete_account(request: web.Request) -> web.Response:
    """Delete an integrated account and its stored credential."""
    await request.app[_BACKENDS].proxy.DeleteIntegratedAccount(
        ppb.DeleteIntegratedAccountRequest(account_id=request.match_info["account_id"]),
        timeout=_TIMEOUT_S,
    )
    return web.Response(status=204)


_CALLBACK: Final = CALLBACK_PATH
# Characters; percent-encoded UTF-8 is up to 12 bytes a character, so even a callback over every
# limit fits the admin server's 32 KiB request line and gets this API's JSON 400, not aiohttp's text.
_CALLBACK_LIMITS: Final = {"state": 256, "code": 1024, "error": 128, "error_description": 512}


def _oauth_started(resp: ppb.StartAccountOAuthResponse) -> web.Response:
    out = AccountOAuthStarted(
        account=_account_out(resp.account),
        authorization_url=resp.authorization_url,
        expires_at=_dt(resp, "expire_time"),
    )
    return web.json_response(out.model_dump(mode="json"), status=201)


def _redirect_uri(request: web.Request, given: str) -> str:
    return given or f"{request.scheme}://{request.host}{_CALLBACK}"


def _account_in(body: AccountCreate | AccountOAuthStart) -> ppb.IntegratedAccount:
    """The proxy's account message for a new account's fields (credentials travel apart)."""
    return ppb.IntegratedAccount(
        id=body.id or "",
        display_name=body.display_name,
        user_id=body.user_id,
        team_id=body.team_id,
        project_id=body.project_id,
        api_base_url=body.api_base_url,
        stream_base_url=body.stream_base_url,
    )


async def start_account_oauth(request: web.Request) -> web.Response:
    """Connect a Gumloop account by OAuth: the account (pending) and the authorization URL to open."""
    body = await _body(request, AccountOAuthStart)
    account = _account_in(body)
    resp = await request.app[_BACKENDS].proxy.StartAccountOAuth(
        ppb.StartAccountOAuthRequest(
            account=account, redirect_uri=_redirect_uri(request, body.redirect_uri), scopes=body.scopes
        ),
        timeout=_TIMEOUT_S,
    )
    return _oauth_started(resp)


async def reconnect_account_oauth(request: web.Request) -> web.Response:
    """Reconnect an OAuth account (e.g. needs_reconnection): a new authorization URL to open."""
    body = await _body(request, AccountOAuthReconnect, optional=True)
    resp = await request.app[_BACKENDS].proxy.StartAccountOAuth(
        ppb.StartAccountOAuthRequest(
            account_id=request.match_info["account_id"],
            redirect_uri=_redirect_uri(request, body.redirect_uri),
            scopes=body.scopes,
        ),
        timeout=_TIMEOUT_S,
    )
    return _oauth_started(resp)


async def account_oauth_callback(request: web.Request) -> web.Response:
    """Gumloop's redirect back (no API token: the single-use state authenticates it); stores the tokens.

    A browser (Accept prefers text/html) gets a page instead of JSON (console/callback.py)."""
    if not prefers_html(request.headers.get("Accept", "")):
        return web.json_response(await _complete_account_oauth(request))
    try:
        account = await _complete_account_oauth(request)
    except grpc.aio.AioRpcError as err:
        failed = _grpc_error(err)
        return account_callback_page(request, status=failed.status, error=failed.message)
    except ApiError as err:
        return account_callback_page(request, status=err.status, error=err.message)
    return account_callback_page(request, account=account)


async def _complete_account_oauth(request: web.Request) -> dict[str, Any]:
    values = {name: request.query.get(name, "") for name in _CALLBACK_LIMITS}
    fields = [
        (n, f"must be at most {m} characters") for n, m in _CALLBACK_LIMITS.items() if len(values[n]) > m
    ]
    if not values["state"]:
        fields.append(("state", "is required"))
    if not values["code"] and not values["error"]:
        fields.append(("code", "is required (or error)"))
    if fields:
        raise ApiError(400, "invalid_argument", "; ".join(f"{f}: {d}" for f, d in fields), fields)
    resp = await request.app[_BACKENDS].proxy.CompleteAccountOAuth(
        ppb.CompleteAccountOAuthRequest(**values), timeout=_TIMEOUT_S
    )
    account: dict[str, Any] = _account_out(resp.account).model_dump(mode="json")
    return account


async def create_api_token(request: web.Request) -> web.Response:
    """Mint an API token; the secret is in this response only."""
    body = await _body(request, ApiTokenCreate)
    token = tpb.ApiToken(
        name=body.name, purposes=[_PURPOSES[p] for p in body.purpose], account_id=body.account_id
    )
    if (ts := _ts(body.expires_at)) is not None:
        token.expire_time.CopyFrom(ts)
    resp = await request.app[_BACKENDS].tokens.CreateApiToken(
        tpb.CreateApiTokenRequest(api_token=token), timeout=_TIMEOUT_S
    )
    out = ApiTokenCreated(**_token_out(resp.api_token), token=resp.token)
    return web.json_response(out.model_dump(mode="json"), status=201)


async def list_api_tokens(request: web.Request) -> web.Response:
    """List API tokens (paginated; never their secrets)."""
    limit, cursor = _page_args(request)
    resp = await request.app[_BACKENDS].tokens.ListApiTokens(
        tpb.ListApiTokensRequest(page_size=limit, page_token=cursor), timeout=_TIMEOUT_S
    )
    return _page([_token_out(t) for t in resp.api_tokens], resp.next_page_token)


async def delete_api_token(request: web.Request) -> web.Response:
    """Revoke an API token."""
    token_id = request.match_info["token_id"]
    await request.app[_BACKENDS].tokens.RevokeApiToken(
        tpb.RevokeApiTokenRequest(id=token_id), timeout=_TIMEOUT_S
    )
    request.app[_WITNESS](Revocation(api_token_id=token_id, final=True))
    return web.Response(status=204)


async def list_activity(request: web.Request) -> web.StreamResponse:
    """The server's tool calls (audit trail), newest first, filterable; CSV with format=csv."""
    server = await _owned_server(request)
    try:
        return await activity_response(request, request.app[_AUDIT], server.id)
    except InvalidActivityQuery as exc:
        raise ApiError(400, "invalid_argument", str(exc), exc.fields) from None
    except AuditUnavailable:
        raise ApiError(503, "unavailable", "the audit store is unavailable; retry shortly") from None


# A full stop that ends a sentence (not "e.g." / "i.e."), then the next sentence's capital.
_SENTENCE_END: Final = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<=\.)\s+(?=[A-Z])")


def _one_line(op: ppb.Operation) -> str:
    text = " ".join(op.description.split())
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    return first or op.title or op.name.replace("_", " ")


async def get_catalog(request: web.Request) -> web.Response:
    """The values config.methods and config.tags accept: method groups, operations (with tool names), tags."""
    resp = await request.app[_BACKENDS].proxy.ListOperations(ppb.ListOperationsRequest(), timeout=_TIMEOUT_S)
    ops = list(resp.operations)
    names = tool_names(ops)
    group_of = {kind: group for group, kinds in METHOD_GROUPS.items() for kind in kinds}
    out = CatalogOut(
        method_groups={group: sorted(kinds) for group, kinds in METHOD_GROUPS.items()},
        tags=sorted({tag for op in ops for tag in op.tags}),
        operations=[
            CatalogOperation(
                name=op.name,
                tool_name=names[op.name],
                kind=group_of[kind_name(op)],
                operation_kind=kind_name(op),
                tags=list(op.tags),
                description=_one_line(op),
            )
            for op in ops
        ],
        catalog_version=resp.catalog_version,
    )
    return web.json_response(out.model_dump(mode="json"))


async def preview_scope(request: web.Request) -> web.Response:
    """The tools a server of this config would expose, and their context cost in model tokens."""
    config = await _body(request, McpConfig)
    resp = await request.app[_BACKENDS].proxy.ListOperations(ppb.ListOperationsRequest(), timeout=_TIMEOUT_S)
    try:
        preview = scope_preview(
            list(resp.operations), resp.catalog_version, config, request.app[_SETTINGS], _one_line
        )
    except UnknownScopeError as err:
        raise ApiError(400, "invalid_argument", str(err), err.fields) from None
    return web.json_response(preview.model_dump(mode="json"))


_ACC = "/integrated-account/{account_id}"
ROUTES: Final = (
    Route("POST", f"{_ACC}/mcp", create_mcp, 201, McpServerCreate, McpServerOut),
    Route("GET", f"{_ACC}/mcp", list_mcp, 200, None, McpServerOut, paged=True),
    Route("GET", f"{_ACC}/mcp/{{mcp_id}}", get_mcp, 200, None, McpServerOut),
    Route("PATCH", f"{_ACC}/mcp/{{mcp_id}}", patch_mcp, 200, McpServerPatch, McpServerOut),
    Route("DELETE", f"{_ACC}/mcp/{{mcp_id}}", delete_mcp, 204, None, None),
    Route("POST", f"{_ACC}/mcp/{{mcp_id}}/rotate", rotate_mcp, 200, RotateRequest, McpServerOut, True),
    Route(
        "GET",
        f"{_ACC}/mcp/{{mcp_id}}/activity",
        list_activity,
        200,
        None,
        ActivityOut,
        paged=True,
        query=tuple(query_parameters()),
        alt_content=(CSV_CONTENT_TYPE,),
    ),
    Route("POST", "/integrated-account", create_account, 201, AccountCreate, AccountOut),
    Route("GET", "/integrated-account", list_accounts, 200, None, AccountOut, paged=True),
    Route("GET", _ACC, get_account, 200, None, AccountOut),
    Route(
        "POST",
        "/integrated-account/oauth/start",
        start_account_oauth,
        201,
        AccountOAuthStart,
        AccountOAuthStarted,
    ),
    Route(
        "POST",
        f"{_ACC}/oauth/start",
        reconnect_account_oauth,
        201,
        AccountOAuthReconnect,
        AccountOAuthStarted,
        body_optional=True,
    ),
    Route(
        "GET",
        _CALLBACK,
        account_oauth_callback,
        200,
        None,
        AccountOut,
        query=tuple(
            {"name": name, "in": "query", "schema": {"type": "string", "maxLength": limit}}
            for name, limit in _CALLBACK_LIMITS.items()
        ),
        alt_content=("text/html",),  # a browser's answer: a page (console/callback.py)
        public=True,
    ),
    Route("DELETE", _ACC, delete_account, 204, None, None),
    Route("POST", "/api-tokens", create_api_token, 201, ApiTokenCreate, ApiTokenCreated),
    Route("GET", "/api-tokens", list_api_tokens, 200, None, ApiTokenOut, paged=True),
    Route("DELETE", "/api-tokens/{token_id}", delete_api_token, 204, None, None),
    Route("GET", "/catalog", get_catalog, 200, None, CatalogOut, any_token=True),
    Route("POST", "/catalog/preview", preview_scope, 200, McpConfig, ScopePreview, any_token=True),
    # OAuth servers (oauth/management.py): connect codes and grants.
    Route(
        "POST",
        f"{_ACC}/mcp/{{mcp_id}}/oauth/connect-codes",
        oauth_routes.create_connect_code,
        201,
        oauth_routes.ConnectCodeCreate,
        oauth_routes.ConnectCodeOut,
    ),
    Route(
        "GET",
        f"{_ACC}/mcp/{{mcp_id}}/oauth/grants",
        oauth_routes.list_grants,
        200,
        None,
        oauth_routes.GrantList,
    ),
    Route(
        "DELETE",
        f"{_ACC}/mcp/{{mcp_id}}/oauth/grants/{{grant_id}}",
        oauth_routes.revoke_grant,
        204,
        None,
        None,
    ),
)
_ANY_TOKEN: Final = frozenset(r.path for r in ROUTES if r.any_token)
_PUBLIC: Final = frozenset(
    {"/openapi.json", "/healthz", "/readyz", "/metrics", *(r.path for r in ROUTES if r.public)}
)


async def _authenticate(request: web.Request) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <management API token>")
    verify = tpb.VerifyApiTokenRequest(
        token=token.strip(),
        purpose=tpb.API_TOKEN_PURPOSE_MANAGEMENT,
        account_id=request.match_info.get("account_id", ""),
    )
    try:
        reply = await request.app[_BACKENDS].tokens.VerifyApiToken(verify, timeout=_TIMEOUT_S)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise _grpc_error(err) from None
        raise ApiError(
            401, "unauthenticated", "the API token is invalid, expired or not allowed here"
        ) from None
    if not verify.account_id and reply.api_token.account_id and request.path not in _ANY_TOKEN:
        # The token service lets a bound token pass when the request names no account; the routes
        # without one (all accounts, all API tokens) would let it mint an unbound token or read
        # every account, so they take unbound tokens only.
        raise ApiError(
            403,
            "permission_denied",
            "this API token is bound to one integrated account; this route needs an unbound management token",
        )


# Probes answer any Host: kubelet sends the pod IP, and they reveal nothing.
_PROBES: Final = frozenset({"/healthz", "/readyz"})
_PATH_PARAM: Final = re.compile(ID_PATTERN)


def _check_origin(request: web.Request) -> None:
    """DNS-rebinding protection: a page on another name must not read the admin port."""
    if request.path in _PROBES:
        return
    policy = request.app[_POLICY]
    if not policy.host_ok(request.headers.get("Host")):
        raise ApiError(421, "misdirected_request", "this Host is not allowed on the admin port")
    if not policy.origin_ok(request.headers.get("Origin")):
        raise ApiError(403, "forbidden_origin", "this Origin is not allowed on the admin port")


def _http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (unknown route or method, body too large) as the JSON envelope."""
    messages = {
        404: ("not_found", "no such route"),
        405: ("method_not_allowed", f"{exc.reason}: allowed {exc.headers.get('Allow', 'none')}"),
        413: ("payload_too_large", "the body is larger than the configured maximum"),
    }
    code, message = messages.get(exc.status, (exc.reason.lower().replace(" ", "_"), exc.reason))
    response = _error_response(ApiError(exc.status, code, message))
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _check_origin(request)
        console = request.path.startswith(CONSOLE_PREFIX)  # signs in with its own session (console/app.py)
        if request.path not in _PUBLIC and request.match_info.route.resource is not None:
            if not all(_PATH_PARAM.match(value) for value in request.match_info.values()):
                raise ApiError(404, "not_found", "no such resource (malformed id)")
            if not console:
                await _authenticate(request)
        return await handler(request)
    except ApiError as err:
        return _error_response(err)
    except grpc.aio.AioRpcError as err:
        return _error_response(_grpc_error(err))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error(exc)


def create_admin_app(
    settings: FacadeSettings,
    backends: Backends,
    oauth: OAuthService | None = None,
    *,
    audit: AuditStore | None = None,
    witness: Callable[[Revocation], None] | None = None,
) -> web.Application:
    """The admin aiohttp app: management routes plus GET /openapi.json.

    `oauth` must be the public app's authorization server (server.py passes the same one). `audit` is
    the store the activity route reads (server.py passes the recorder's); without one an empty
    in-memory trail answers. `witness` is told each server change and API-token revocation made
    here (server.py passes the token resolver's), so this replica serves it at once.
    """
    app = web.Application(middlewares=[_middleware], client_max_size=settings.max_body_bytes)
    app[_SETTINGS] = settings
    app[_BACKENDS] = backends
    app[_AUDIT] = audit if audit is not None else MemoryAuditStore()
    app[_WITNESS] = witness if witness is not None else (lambda _: None)
    app[oauth_routes.OAUTH_SERVICE] = oauth or open_oauth(settings)
    app[oauth_routes.MANAGEMENT_HOOKS] = oauth_routes.ManagementHooks(ApiError, _owned_server, _body)
    app[_POLICY] = HostPolicy(
        settings.admin_allowed_origins, settings.admin_allowed_hosts, settings.admin_host
    )
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    document = openapi_document(ROUTES)

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/openapi.json", openapi)
    attach_console(app, settings, tokens=backends.tokens, oauth=app[oauth_routes.OAUTH_SERVICE])
    return app
