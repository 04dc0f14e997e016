"""The console's pages: accounts, their MCP servers, API tokens, each action one management API call.

Secrets (a new MCP URL, a new API token) are rendered into the answer of the POST that created them,
never into a URL or a redirect, and are never shown again: lists show token prefixes only.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from gumloop_mcp.claude_config import render_claude_desktop_config

from .app import (
    CONSOLE_PREFIX,
    LOGIN_COOKIE,
    OIDC_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    ConsoleError,
    client,
    identity_provider,
    render,
    secure_cookie,
    session_of,
    sessions,
)
from .callback import CALLBACK_PATH, RETURN_COOKIE
from .client import ApiReply
from .confirm import Act, Confirmed, Context, add_confirmed
from .idp import SignInRefused

__all__ = ["EXPIRY_PRESETS", "add_routes"]

#: Expiry choices: form value -> (label, lifetime; None = never expires).
EXPIRY_PRESETS: Final[dict[str, tuple[str, timedelta | None]]] = {
    "1h": ("1 hour", timedelta(hours=1)),
    "1d": ("1 day", timedelta(days=1)),
    "30d": ("30 days", timedelta(days=30)),
    "none": ("Never", None),
}
GRACE_CHOICES: Final = {0: "None: the old URL stops now", 300: "5 minutes", 3_600: "1 hour", 86_400: "1 day"}
NOTICES: Final = {
    "revoked": "The MCP server was revoked: its URL no longer works.",
    "saved": "Changes saved.",
    "account-deleted": "The account was deleted.",
    "account-connected": "The account is connected.",
    "token-revoked": "The API token was revoked.",
}
#: Activity periods: form value -> (label, how far back; None = the whole retained trail).
ACTIVITY_PERIODS: Final[dict[str, tuple[str, timedelta | None]]] = {
    "": ("Any time", None),
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(days=1)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "custom": ("Between (UTC)…", None),
}
#: The audit trail's outcomes (the management API's `outcome` values) as the activity page names them.
OUTCOME_LABELS: Final = {
    "ok": "ok",
    "tool_error": "tool error",
    "credentials_rejected": "credentials rejected by Gumloop",
    "unknown_tool": "unknown tool",
    "cancelled": "cancelled",
    "revoked": "revoked mid-call",
    "budget": "over the call budget",
    "input_required": "input required",
    "task": "started as a task",
    "error": "error",
}
ACTIVITY_PAGE_SIZE: Final = 50
_P: Final = "/console"


def _form_list(form: MultiDictProxy[Any], key: str) -> list[str]:
    return [v for v in form.getall(key, []) if isinstance(v, str) and v.strip()]


def _text(form: MultiDictProxy[Any], key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _expiry(form: MultiDictProxy[Any]) -> tuple[bool, str | None]:
    """(whether to set it, the ISO expiry or None for never) from the preset or custom fields."""
    choice = _text(form, "expiry") or "none"
    if choice == "keep":
        return False, None
    if choice == "custom":
        raw = _text(form, "expiry_custom")
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError("give the custom expiry as a date and time") from None
        return True, (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
    if choice not in EXPIRY_PRESETS:
        raise ValueError(f"unknown expiry choice {choice!r}")
    lifetime = EXPIRY_PRESETS[choice][1]
    return True, None if lifetime is None else (datetime.now(UTC) + lifetime).isoformat()


async def _api(request: web.Request, method: str, path: str, **kwargs: Any) -> ApiReply:
    return await client(request).call(request, method, path, session_of(request).token, **kwargs)


def _fail(reply: ApiReply) -> Exception:
    """An API error as the console's answer: an error page (or sign-in again on 401)."""
    if reply.status == 401:
        return web.HTTPSeeOther(f"{_P}/login")
    return ConsoleError(reply.status if 400 <= reply.status < 600 else 502, reply.error)


def _done(path: str, notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?notice={quote(notice)}")


def _notice(request: web.Request) -> str | None:
    return NOTICES.get(request.query.get("notice", ""))


# --- sign in / out ------------------------------------------------------------------------------


async def login_page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    nonce = secrets.token_urlsafe(24)
    idp = identity_provider(request)
    response = render(
        request,
        "login.html",
        status=status,
        login_nonce=nonce,
        error=error,
        idp_host=urlsplit(idp.provider.issuer).netloc if idp is not None else "",
    )
    response.set_cookie(
        LOGIN_COOKIE, nonce, httponly=True, samesite="Strict", secure=secure_cookie(request), path=_P
    )
    return response


def _login_form_ok(request: web.Request, form: MultiDictProxy[Any]) -> bool:
    """The sign-in form's double-submit nonce matches its cookie (no cross-site sign-in)."""
    nonce, cookie = _text(form, "login_nonce"), request.cookies.get(LOGIN_COOKIE, "")
    return bool(nonce) and hmac.compare_digest(nonce.encode(), cookie.encode())


def _signed_in(request: web.Request, session_id: str, response: web.StreamResponse) -> web.StreamResponse:
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, samesite="Strict", secure=secure_cookie(request), path=_P
    )
    response.del_cookie(LOGIN_COOKIE, path=_P)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if not _login_form_ok(request, form):
        return await login_page(request, "The sign-in form expired: try again.", 403)
    token = _text(form, "token")
    if not token:
        return await login_page(request, "Paste a management API token.", 400)
    reply = await client(request).call(request, "GET", "/catalog", token)
    if reply.status == 401:
        return await login_page(request, "That API token is invalid, expired or not a management token.", 401)
    if not reply.ok:
        return await login_page(request, reply.error, reply.status)
    session_id, _ = await sessions(request).start(token)
    return _signed_in(request, session_id, web.HTTPSeeOther(f"{_P}/accounts"))


def _oidc_callback_uri(request: web.Request) -> str:
    """Where the identity provider sends the browser back: this admin address's console callback."""
    return f"{request.scheme}://{request.host}{CONSOLE_PREFIX}/oidc/callback"


async def oidc_start(request: web.Request) -> web.StreamResponse:
    """The sign-in page's "Sign in with …": to the identity provider, bound to this browser."""
    idp = identity_provider(request)
    if idp is None:
        raise web.HTTPNotFound(text="no identity provider is configured")
    form = await request.post()
    if not _login_form_ok(request, form):
        return await login_page(request, "The sign-in form expired: try again.", 403)
    try:
        started = await idp.start(_oidc_callback_uri(request))
    except SignInRefused as refused:
        return await login_page(request, refused.message, refused.status)
    response = _away(
        request, started.url, "Sign in", "Sign in at your identity provider; you will come back here."
    )
    response.set_cookie(
        OIDC_COOKIE,
        started.binding,
        httponly=True,
        samesite="Lax",
        secure=secure_cookie(request),
        path=f"{_P}/oidc",
        max_age=600,
    )
    return response


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    """The identity provider's redirect back: an allowed operator gets a session and its own token.

    Answered with a page that moves on to the accounts by itself (meta refresh): the Strict session
    cookie set here is not sent on a redirect that continues the provider's cross-site navigation,
    but it is on a navigation this page starts."""
    idp = identity_provider(request)
    if idp is None:
        raise web.HTTPNotFound(text="no identity provider is configured")
    query = request.query
    try:
        identity = await idp.finish(
            query.get("state", ""),
            query.get("code", ""),
            query.get("error", ""),
            request.cookies.get(OIDC_COOKIE, ""),
            _oidc_callback_uri(request),
        )
        token, operator = await idp.mint(identity)
    except SignInRefused as refused:
        response = await login_page(request, refused.message, refused.status)
        response.del_cookie(OIDC_COOKIE, path=f"{_P}/oidc")
        return response
    session_id, _ = await sessions(request).start(token, operator)
    page = render(request, "signed_in.html", operator=operator.label, next=f"{_P}/accounts")
    page.del_cookie(OIDC_COOKIE, path=f"{_P}/oidc")
    return _signed_in(request, session_id, page)


async def logout(request: web.Request) -> web.StreamResponse:
    session_id = request.cookies.get(SESSION_COOKIE)
    operator = session_of(request).operator
    await sessions(request).end(session_id)
    if operator is not None and (idp := identity_provider(request)) is not None:
        await idp.revoke(operator)  # the token minted for this session ends with it
    response = web.HTTPSeeOther(f"{_P}/login")
    response.del_cookie(SESSION_COOKIE, path=_P)
    return response


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"{_P}/accounts")


# --- accounts -----------------------------------------------------------------------------------


async def accounts(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    reply = await _api(request, "GET", "/integrated-account", query={"limit": "100"})
    if not reply.ok:
        raise _fail(reply)
    items = reply.body["result"]
    counts: dict[str, int | None] = {}
    for account in items:
        servers = await _api(
            request, "GET", f"/integrated-account/{account['id']}/mcp", query={"limit": "100"}
        )
        counts[account["id"]] = len(servers.body["result"]) if servers.ok else None
    return render(
        request,
        "accounts.html",
        status=status,
        accounts=items,
        counts=counts,
        error=error,
        notice=_notice(request),
    )


async def connect_account(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    body: dict[str, Any] = {"display_name": _text(form, "display_name"), "user_id": _text(form, "user_id")}
    body["api_key"] = form.get("api_key", "")
    for key in ("api_base_url", "stream_base_url"):
        if value := _text(form, key):
            body[key] = value
    reply = await _api(request, "POST", "/integrated-account", body=body)
    if reply.status == 401:
        raise _fail(reply)
    if not reply.ok:
        return await accounts(request, error=reply.error, status=reply.status)
    raise _done(f"{_P}/accounts/{reply.body['id']}/mcp", "account-connected")


def _away(request: web.Request, target: str, title: str, message: str) -> web.Response:
    """A page that sends the browser on to another site (meta refresh, and a link). Not a redirect: the
    CSP's `form-action 'self'` stops a form post that redirects to another origin."""
    host = urlsplit(target).netloc or target
    return render(request, "redirecting.html", target=target, title=title, message=message, host=host)


def _to_gumloop(request: web.Request, started: dict[str, Any]) -> web.Response:
    """On to Gumloop's authorization page; its callback will bring the browser back to the console."""
    page = _away(
        request,
        started["authorization_url"],
        "Authorize at Gumloop",
        f"Approve access to “{started['account']['display_name']}” at Gumloop; you will come back here.",
    )
    page.set_cookie(
        RETURN_COOKIE,
        "1",
        httponly=True,
        samesite="Lax",
        secure=secure_cookie(request),
        path=CALLBACK_PATH,
        max_age=900,
    )
    return page


def _callback_uri(request: web.Request) -> str:
    """The management API's callback on the address the browser uses for the admin port."""
    return f"{request.scheme}://{request.host}{CALLBACK_PATH}"


async def connect_account_oauth(request: web.Request) -> web.StreamResponse:
    """ "Connect with OAuth": a pending account, then Gumloop's authorization page."""
    form = await request.post()
    body: dict[str, Any] = {
        "display_name": _text(form, "display_name"),
        "redirect_uri": _callback_uri(request),
    }
    for key in ("user_id", "api_base_url", "stream_base_url"):
        if value := _text(form, key):
            body[key] = value
    reply = await _api(request, "POST", "/integrated-account/oauth/start", body=body)
    if reply.status == 401:
        raise _fail(reply)
    if not reply.ok:
        return await accounts(request, error=reply.error, status=reply.status)
    return _to_gumloop(request, reply.body)


async def reconnect_account(request: web.Request) -> web.StreamResponse:
    """ "Reconnect": a new authorization at Gumloop for an OAuth account (e.g. needing reconnection)."""
    account_id = request.match_info["account_id"]
    body = {"redirect_uri": _callback_uri(request)}
    reply = await _api(request, "POST", f"/integrated-account/{account_id}/oauth/start", body=body)
    if reply.status == 401:
        raise _fail(reply)
    if not reply.ok:
        return await accounts(request, error=reply.error, status=reply.status)
    return _to_gumloop(request, reply.body)


async def account_home(request: web.Request) -> web.StreamResponse:
    """An account opens on its MCP Servers tab."""
    raise web.HTTPSeeOther(f"{request.path}/mcp")


# --- MCP servers --------------------------------------------------------------------------------


async def _account(request: web.Request) -> dict[str, Any]:
    reply = await _api(request, "GET", f"/integrated-account/{request.match_info['account_id']}")
    if not reply.ok:
        raise _fail(reply)
    account: dict[str, Any] = reply.body
    return account


async def servers(request: web.Request) -> web.Response:
    account = await _account(request)
    reply = await _api(request, "GET", f"/integrated-account/{account['id']}/mcp", query={"limit": "100"})
    if not reply.ok:
        raise _fail(reply)
    listed = reply.body["result"]
    allowed = {server["id"]: _allowed_label(server["config"]) for server in listed}
    return render(
        request, "servers.html", account=account, servers=listed, allowed=allowed, notice=_notice(request)
    )


def _allowed_label(config: dict[str, Any]) -> str:
    """Who may connect to an OAuth server, in one line: emails, @domains, group names."""
    return ", ".join(
        [
            *config.get("oauth_allowed_emails", []),
            *(f"@{d}" for d in config.get("oauth_allowed_domains", [])),
            *(f"group {g}" for g in config.get("oauth_allowed_groups", [])),
        ]
    )


async def _catalog(request: web.Request) -> dict[str, Any]:
    reply = await _api(request, "GET", "/catalog")
    if not reply.ok:
        raise _fail(reply)
    catalog: dict[str, Any] = reply.body
    return catalog


def _scope(form: MultiDictProxy[Any]) -> dict[str, Any]:
    return {"methods": _form_list(form, "method"), "tags": _form_list(form, "tag")}


SECOND_FACTORS: Final = ("none", "api_token", "oauth")
# What the Claude Desktop snippet of an API-token server holds until the person pastes their own
# (the console never has an MCP client's API token to put there).
_API_TOKEN_PLACEHOLDER: Final = "<paste an API token for MCP clients here>"
#: The allowed-set fields of the server form and the config field each one fills.
_ALLOWED_FIELDS: Final = (
    ("allow_emails", "oauth_allowed_emails"),
    ("allow_domains", "oauth_allowed_domains"),
    ("allow_groups", "oauth_allowed_groups"),
)


def _lines(form: MultiDictProxy[Any], key: str) -> list[str]:
    """A textarea's entries: one per line (commas also separate), blanks dropped, order kept, no repeats."""
    raw = form.get(key, "")
    entries = raw.replace(",", "\n").splitlines() if isinstance(raw, str) else []
    return list(dict.fromkeys(e.strip() for e in entries if e.strip()))


def _second_factor_of(server: dict[str, Any]) -> str:
    if server.get("require_api_token_auth"):
        return "api_token"
    return "oauth" if server.get("require_oauth") else "none"


def _factor_values(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The form's second factor and allowed sets, as the form shows them again."""
    factor = _text(form, "second_factor") or "none"
    if factor not in SECOND_FACTORS:
        factor = "none"
    return {"second_factor": factor, **{field: _lines(form, field) for field, _ in _ALLOWED_FIELDS}}


def _factor_body(values: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The API body's second-factor fields, and the allowed sets into `config` for an OAuth server
    (another server keeps whatever its config holds)."""
    factor = values["second_factor"]
    if factor == "oauth":
        config.update({api: values[field] for field, api in _ALLOWED_FIELDS})
    return {"require_api_token_auth": factor == "api_token", "require_oauth": factor == "oauth"}


async def _preview(request: web.Request, scope: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    reply = await _api(request, "POST", "/catalog/preview", body=scope)
    if reply.status == 401:
        raise _fail(reply)
    return (reply.body, None) if reply.ok else (None, reply.error)


def _server_form(
    request: web.Request, template: str, catalog: dict[str, Any], values: dict[str, Any], **extra: Any
) -> web.Response:
    extra.setdefault("preview", None)
    extra.setdefault("error", None)
    return render(
        request,
        template,
        catalog=catalog,
        values=values,
        presets={k: label for k, (label, _) in EXPIRY_PRESETS.items()},
        **extra,
    )


async def new_server_page(request: web.Request) -> web.Response:
    account = await _account(request)
    values = {"name": "", "methods": [], "tags": [], "expiry": "30d", "second_factor": "none"}
    values |= {field: [] for field, _ in _ALLOWED_FIELDS}
    return _server_form(request, "server_new.html", await _catalog(request), values, account=account)


def _posted_values(
    form: MultiDictProxy[Any], scope: dict[str, Any], *, default_expiry: str
) -> dict[str, Any]:
    """The server form's fields as posted, to show again (with the preview or an error)."""
    return {
        "name": _text(form, "name"),
        **scope,
        "expiry": _text(form, "expiry") or default_expiry,
        "expiry_custom": _text(form, "expiry_custom"),
        **_factor_values(form),
    }


async def create_server(request: web.Request) -> web.Response:
    account = await _account(request)
    form = await request.post()
    scope = _scope(form)
    values = _posted_values(form, scope, default_expiry="none")
    catalog = await _catalog(request)
    preview, preview_error = await _preview(request, scope)
    if _text(form, "action") == "preview":
        return _server_form(
            request, "server_new.html", catalog, values, account=account, preview=preview, error=preview_error
        )
    try:
        set_expiry, expires_at = _expiry(form)
    except ValueError as exc:
        return _server_form(
            request, "server_new.html", catalog, values, account=account, error=str(exc), status=400
        )
    config = dict(scope)
    body: dict[str, Any] = {"name": values["name"], "config": config, **_factor_body(values, config)}
    if set_expiry:
        body["expires_at"] = expires_at
    reply = await _api(request, "POST", f"/integrated-account/{account['id']}/mcp", body=body)
    if reply.status == 401:
        raise _fail(reply)
    if not reply.ok:
        return _server_form(
            request, "server_new.html", catalog, values, account=account, preview=preview, error=reply.error
        )
    return _shown_once(request, account, reply.body, preview=preview, rotated=False)


def _shown_once(
    request: web.Request, account: dict[str, Any], server: dict[str, Any], *, preview: Any, rotated: bool
) -> web.Response:
    url = server["url"]
    factor = _second_factor_of(server)
    name = _config_name(server["name"])
    if factor == "oauth":
        # No header: mcp-remote finds the sign-in from the 401 and opens the browser for it. The URL
        # token it logs is not enough to call the server without a person's sign-in.
        snippet = render_claude_desktop_config(url, name=name, token_in_url=True)
    elif factor == "api_token":
        snippet = render_claude_desktop_config(url, name=name, api_token=_API_TOKEN_PLACEHOLDER)
    else:
        snippet = render_claude_desktop_config(url, name=name)
    allowed = {api: server["config"].get(api, []) for _, api in _ALLOWED_FIELDS}
    return render(
        request,
        "server_created.html",
        account=account,
        server=server,
        url=url,
        snippet=snippet,
        factor=factor,
        allowed=allowed,
        api_token_placeholder=_API_TOKEN_PLACEHOLDER,
        preview=preview,
        rotated=rotated,
    )


def _config_name(name: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return f"gumloop-{slug}" if slug else "gumloop"


async def _server(request: web.Request) -> dict[str, Any]:
    path = f"/integrated-account/{request.match_info['account_id']}/mcp/{request.match_info['mcp_id']}"
    reply = await _api(request, "GET", path)
    if not reply.ok:
        raise _fail(reply)
    server: dict[str, Any] = reply.body
    return server


async def edit_server_page(request: web.Request) -> web.Response:
    account, server = await _account(request), await _server(request)
    values = {
        "name": server["name"],
        "methods": server["config"]["methods"],
        "tags": server["config"]["tags"],
        "expiry": "keep",
        "second_factor": _second_factor_of(server),
        **{field: server["config"].get(api, []) for field, api in _ALLOWED_FIELDS},
    }
    preview, error = await _preview(request, {"methods": values["methods"], "tags": values["tags"]})
    return _server_form(
        request,
        "server_edit.html",
        await _catalog(request),
        values,
        account=account,
        server=server,
        preview=preview,
        error=error,
        notice=_notice(request),
    )


async def edit_server(request: web.Request) -> web.StreamResponse:
    account, server = await _account(request), await _server(request)
    form = await request.post()
    scope = _scope(form)
    values = _posted_values(form, scope, default_expiry="keep")
    catalog = await _catalog(request)
    preview, preview_error = await _preview(request, scope)
    page = {"account": account, "server": server, "preview": preview}
    if _text(form, "action") == "preview":
        return _server_form(request, "server_edit.html", catalog, values, error=preview_error, **page)
    try:
        set_expiry, expires_at = _expiry(form)
    except ValueError as exc:
        return _server_form(request, "server_edit.html", catalog, values, error=str(exc), status=400, **page)
    config = dict(server["config"]) | scope
    body: dict[str, Any] = {"name": values["name"], "config": config, **_factor_body(values, config)}
    if set_expiry:
        body["expires_at"] = expires_at
    reply = await _api(request, "PATCH", f"/integrated-account/{account['id']}/mcp/{server['id']}", body=body)
    if reply.status == 401:
        raise _fail(reply)
    if not reply.ok:
        return _server_form(request, "server_edit.html", catalog, values, error=reply.error, **page)
    raise _done(f"{_P}/accounts/{account['id']}/mcp/{server['id']}", "saved")


def _activity_filters(params: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the filter values the form shows, the management API's query for them) from the page's query.

    The API checks the values (a bad one is its 400, shown on the page); the period becomes `since`
    (and with "custom", `since`/`until` from the UTC date-time fields).
    """
    shown = {k: params.get(k, "").strip() for k in ("tool", "outcome", "client", "period", "from", "to")}
    query = {
        api: shown[k]
        for k, api in (("tool", "tool"), ("outcome", "outcome"), ("client", "client"))
        if shown[k]
    }
    period = shown["period"]
    if period in ACTIVITY_PERIODS and (lifetime := ACTIVITY_PERIODS[period][1]) is not None:
        query["since"] = _rfc3339(datetime.now(UTC) - lifetime)
    elif period == "custom":
        for field, api in (("from", "since"), ("to", "until")):
            if shown[field]:
                query[api] = _utc_text(shown[field])
    elif period:
        shown["period"] = ""
    return shown, query


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _utc_text(raw: str) -> str:
    """A datetime-local value read as UTC (unparsable text goes to the API as it is, which refuses it)."""
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return _rfc3339(when if when.tzinfo else when.replace(tzinfo=UTC))


def _activity_path(request: web.Request) -> str:
    account_id, mcp_id = request.match_info["account_id"], request.match_info["mcp_id"]
    return f"/integrated-account/{account_id}/mcp/{mcp_id}/activity"


async def activity(request: web.Request) -> web.Response:
    """The server's tool calls, newest first: filters, paging and the CSV link, all over the API's route."""
    account, server = await _account(request), await _server(request)
    shown, query = _activity_filters(request.query)
    page_query = dict(query, limit=str(ACTIVITY_PAGE_SIZE))
    if cursor := request.query.get("next_cursor"):
        page_query["next_cursor"] = cursor
    reply = await _api(request, "GET", _activity_path(request), query=page_query)
    if reply.status == 401:
        raise _fail(reply)
    ok = reply.ok and isinstance(reply.body, dict)
    records = [r for r in reply.body.get("result", []) if isinstance(r, dict)] if ok else []
    preview, _ = await _preview(
        request, {"methods": server["config"]["methods"], "tags": server["config"]["tags"]}
    )
    filters = {k: v for k, v in shown.items() if v}
    next_cursor = reply.body.get("next_cursor") if ok else None
    return render(
        request,
        "server_activity.html",
        account=account,
        server=server,
        records=records,
        payloads=any(r.get("arguments") is not None or r.get("result") is not None for r in records),
        filters=shown,
        filtered=bool(query),
        first_page=not cursor,
        older=f"?{urlencode(filters | {'next_cursor': next_cursor})}" if next_cursor else None,
        newest=f"?{urlencode(filters)}",
        export=f"activity.csv?{urlencode(filters)}",
        tools=[t["name"] for t in preview["tools"]] if preview else [],
        outcomes=OUTCOME_LABELS,
        periods={k: label for k, (label, _) in ACTIVITY_PERIODS.items()},
        unavailable="activity records are not available on this gateway" if reply.unknown_route else None,
        error=None if ok or reply.unknown_route else reply.error,
        status=reply.status if reply.status == 400 else 200,
    )


async def activity_csv(request: web.Request) -> web.StreamResponse:
    """The filtered trail as CSV: the management API's own export (`format=csv`), streamed through."""
    _, query = _activity_filters(request.query)
    out = await client(request).relay(
        request,
        _activity_path(request),
        session_of(request).token,
        dict(query, format="csv"),
        headers=dict(SECURITY_HEADERS),
    )
    if isinstance(out, ApiReply):
        raise _fail(out)
    return out


async def preview(request: web.Request) -> web.Response:
    """JSON for the live preview script: the management API's preview of the posted scope."""
    try:
        raw = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="send the scope as JSON") from None
    scope = {"methods": raw.get("methods", []), "tags": raw.get("tags", [])} if isinstance(raw, dict) else {}
    reply = await _api(request, "POST", "/catalog/preview", body=scope)
    return web.json_response(reply.body, status=reply.status, dumps=json.dumps)


# --- API tokens ---------------------------------------------------------------------------------


async def api_tokens(
    request: web.Request,
    *,
    created: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    reply = await _api(request, "GET", "/api-tokens", query={"limit": "100"})
    if not reply.ok:
        raise _fail(reply)
    listed = await _api(request, "GET", "/integrated-account", query={"limit": "100"})
    return render(
        request,
        "api_tokens.html",
        status=status,
        tokens=reply.body["result"],
        accounts=listed.body["result"] if listed.ok else [],
        presets={k: label for k, (label, _) in EXPIRY_PRESETS.items()},
        created=created,
        error=error,
        notice=_notice(request),
    )


async def create_api_token(request: web.Request) -> web.Response:
    form = await request.post()
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "purpose": _form_list(form, "purpose"),
        "account_id": _text(form, "account_id"),
    }
    try:
        set_expiry, expires_at = _expiry(form)
    except ValueError as exc:
        return await api_tokens(request, error=str(exc), status=400)
    if set_expiry and expires_at is not None:
        body["expires_at"] = expires_at
    reply = await _api(request, "POST", "/api-tokens", body=body)
    if reply.status == 401:
        raise _fail(reply)
    if not reply.ok:
        return await api_tokens(request, error=reply.error, status=reply.status)
    return await api_tokens(request, created=reply.body, status=201)


# --- confirm-then-act (confirm.py): what each destructive action says and does ---------------


def _called(
    method: str, api_path: Callable[[Context], str]
) -> Callable[[web.Request, Context, Any], Awaitable[ApiReply]]:
    """`method api_path(context)` with a JSON body; a failure becomes the console's answer."""

    async def call(request: web.Request, context: Context, body: Any) -> ApiReply:
        reply = await _api(request, method, api_path(context), body=body)
        if not reply.ok:
            raise _fail(reply)
        return reply

    return call


def _then_back(
    method: str, api_path: Callable[[Context], str], back: Callable[[Context], str], notice: str
) -> Act:
    """Act by `method api_path`, then back to the list `back` names with `notice`."""
    call = _called(method, api_path)

    async def act(request: web.Request, context: Context, _: MultiDictProxy[Any]) -> web.StreamResponse:
        await call(request, context, None)
        raise _done(back(context), notice)

    return act


async def _account_and_servers(request: web.Request) -> Context:
    account = await _account(request)
    listed = await _api(request, "GET", f"/integrated-account/{account['id']}/mcp", query={"limit": "100"})
    return {"account": account, "servers": listed.body["result"] if listed.ok else []}


async def _account_and_server(request: web.Request) -> Context:
    return {"account": await _account(request), "server": await _server(request), "graces": GRACE_CHOICES}


async def _api_token(request: web.Request) -> Context:
    reply = await _api(request, "GET", "/api-tokens", query={"limit": "100"})
    if not reply.ok:
        raise _fail(reply)
    token = next((t for t in reply.body["result"] if t["id"] == request.match_info["token_id"]), None)
    if token is None:
        raise web.HTTPNotFound(text="no such API token")
    return {"token": token}


def _server_path(context: Context) -> str:
    return f"/integrated-account/{context['account']['id']}/mcp/{context['server']['id']}"


_rotate_call = _called("POST", lambda c: _server_path(c) + "/rotate")


async def _rotate(request: web.Request, context: Context, form: MultiDictProxy[Any]) -> web.StreamResponse:
    try:
        grace = int(_text(form, "grace_period_seconds") or "0")
    except ValueError:
        raise web.HTTPBadRequest(text="the grace period must be a whole number of seconds") from None
    reply = await _rotate_call(request, context, {"grace_period_seconds": grace})
    return _shown_once(request, context["account"], reply.body, preview=None, rotated=True)


DELETE_ACCOUNT: Final = Confirmed(
    "account_delete.html",
    _account_and_servers,
    _then_back(
        "DELETE",
        lambda c: f"/integrated-account/{c['account']['id']}",
        lambda _: f"{_P}/accounts",
        "account-deleted",
    ),
)
REVOKE_SERVER: Final = Confirmed(
    "server_revoke.html",
    _account_and_server,
    _then_back("DELETE", _server_path, lambda c: f"{_P}/accounts/{c['account']['id']}/mcp", "revoked"),
)
ROTATE_SERVER: Final = Confirmed("server_rotate.html", _account_and_server, _rotate)
REVOKE_API_TOKEN: Final = Confirmed(
    "api_token_revoke.html",
    _api_token,
    _then_back(
        "DELETE", lambda c: f"/api-tokens/{c['token']['id']}", lambda _: f"{_P}/api-tokens", "token-revoked"
    ),
)


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the pages under `prefix`."""
    acc = f"{prefix}/accounts/{{account_id}}"
    mcp = f"{acc}/mcp/{{mcp_id}}"
    app.router.add_get(prefix, home)
    app.router.add_get(f"{prefix}/", home)
    app.router.add_get(f"{prefix}/login", login_page)
    app.router.add_post(f"{prefix}/login", login)
    app.router.add_post(f"{prefix}/logout", logout)
    app.router.add_post(f"{prefix}/oidc/start", oidc_start)
    app.router.add_get(f"{prefix}/oidc/callback", oidc_callback)
    app.router.add_get(f"{prefix}/accounts", accounts)
    app.router.add_post(f"{prefix}/accounts", connect_account)
    app.router.add_post(f"{prefix}/accounts/oauth", connect_account_oauth)
    app.router.add_post(f"{acc}/oauth/reconnect", reconnect_account)
    app.router.add_get(acc, account_home)
    add_confirmed(app, f"{acc}/delete", DELETE_ACCOUNT)
    app.router.add_get(f"{acc}/mcp", servers)
    app.router.add_get(f"{acc}/mcp/new", new_server_page)
    app.router.add_post(f"{acc}/mcp/new", create_server)
    app.router.add_get(mcp, edit_server_page)
    app.router.add_post(mcp, edit_server)
    add_confirmed(app, f"{mcp}/rotate", ROTATE_SERVER)
    add_confirmed(app, f"{mcp}/revoke", REVOKE_SERVER)
    app.router.add_get(f"{mcp}/activity", activity)
    app.router.add_get(f"{mcp}/activity.csv", activity_csv)
    app.router.add_post(f"{prefix}/preview", preview)
    app.router.add_get(f"{prefix}/api-tokens", api_tokens)
    app.router.add_post(f"{prefix}/api-tokens", create_api_token)
    add_confirmed(app, f"{prefix}/api-tokens/{{token_id}}/revoke", REVOKE_API_TOKEN)
