"""Gumloop's OAuth endpoints on the root host (``/oauth/register``, ``/oauth/authorize``, ``/oauth/token``,
``/oauth/revoke``), as the official SDK's ``gumloop.oauth.OAuth`` calls them, plus control endpoints.

``/oauth/authorize`` approves at once and redirects back with the code (``oauth_auto_approve``, the
default: tests follow the redirect), or, with auto-approval off, shows a consent form whose Allow / Deny
buttons post back here. Errors about the client or its redirect URI are answered on the page (never
redirected, RFC 6749 §4.1.2.1); the others go back to the redirect URI as ``error`` parameters.
Token and revocation endpoints take form bodies and answer RFC 6749 §5.2 error bodies.

Control: ``GET /__emulator/oauth`` (counters and grants, no tokens), ``POST /__emulator/oauth/revoke-all``
(every grant revoked, as a user disconnecting the app in Gumloop).
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from aiohttp import web

from gumloop_mcp.emulator.context import EMU
from gumloop_mcp.emulator.oauth import OAuthError, OAuthServer

routes = web.RouteTableDef()
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
)


def _server(request: web.Request) -> OAuthServer:
    return request.app[EMU].oauth


def _error(err: OAuthError) -> web.Response:
    return web.json_response(err.body(), status=err.status, headers=_NO_STORE)


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


@routes.post("/oauth/register")
async def register(request: web.Request) -> web.Response:
    """RFC 7591 dynamic registration of a public client."""
    try:
        body = await request.json()
    except ValueError:
        return _error(OAuthError("invalid_client_metadata", "the body must be a JSON object"))
    if not isinstance(body, dict):
        return _error(OAuthError("invalid_client_metadata", "the body must be a JSON object"))
    e = request.app[EMU]
    try:
        client = _server(request).register(body, e.clock.now())
    except OAuthError as err:
        return _error(err)
    return web.json_response(
        {
            "client_id": client.client_id,
            "client_id_issued_at": client.issued_at,
            "client_name": client.client_name,
            "redirect_uris": client.redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": client.scope,
        },
        status=201,
    )


def _back(redirect_uri: str, params: dict[str, str]) -> web.HTTPFound:
    sep = "&" if "?" in redirect_uri else "?"
    return web.HTTPFound(redirect_uri + sep + urlencode(params), headers=_NO_STORE)


def _page(status: int, title: str, body: str) -> web.Response:
    text = f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>"
    return web.Response(status=status, text=text, content_type="text/html", headers=_NO_STORE)


def _refused(err: OAuthError) -> web.Response:
    return _page(
        err.status, "Authorization error", f"<p>{html.escape(err.error)}: {html.escape(err.description)}</p>"
    )


async def _decide(request: web.Request, params: dict[str, str], approve: bool) -> web.StreamResponse:
    server = _server(request)
    try:
        server.client_for(params.get("client_id", ""), params.get("redirect_uri", ""))
    except OAuthError as err:
        return _refused(err)
    client_uri = params["redirect_uri"]
    state = {"state": params["state"]} if params.get("state") else {}
    if not approve:
        raise _back(client_uri, {"error": "access_denied", **state})
    try:
        code = server.authorize(params, request.app[EMU].clock.now())
    except OAuthError as err:
        raise _back(
            params["redirect_uri"], {"error": err.error, "error_description": err.description, **state}
        ) from None
    raise _back(params["redirect_uri"], {"code": code, **state})


@routes.get("/oauth/authorize")
async def authorize(request: web.Request) -> web.StreamResponse:
    """Approve at once (auto-approval) or show the consent form."""
    params = {k: request.query[k] for k in _AUTHORIZE_PARAMS if k in request.query}
    if request.app[EMU].settings.oauth_auto_approve:
        return await _decide(request, params, approve=True)
    server = _server(request)
    try:
        client = server.client_for(params.get("client_id", ""), params.get("redirect_uri", ""))
    except OAuthError as err:
        return _refused(err)
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
    )
    return _page(
        200,
        "Authorize",
        f"<h1>Allow {html.escape(client.client_name)} to use your Gumloop account?</h1>"
        f"<p>Scope: {html.escape(params.get('scope') or client.scope)}</p>"
        f'<form method="post" action="/oauth/authorize">{hidden}'
        '<button name="decision" value="allow">Allow</button>'
        '<button name="decision" value="deny">Deny</button></form>',
    )


@routes.post("/oauth/authorize")
async def consent(request: web.Request) -> web.StreamResponse:
    """The consent form's answer."""
    try:
        form = await _form(request)
    except OAuthError as err:
        return _page(400, "Authorization error", html.escape(err.description))
    params = {k: form[k] for k in _AUTHORIZE_PARAMS if k in form}
    return await _decide(request, params, approve=form.get("decision") == "allow")


@routes.post("/oauth/token")
async def token(request: web.Request) -> web.Response:
    """authorization_code (PKCE S256) and refresh_token grants."""
    try:
        body = _server(request).token(await _form(request), request.app[EMU].clock.now())
    except OAuthError as err:
        return _error(err)
    return web.json_response(body, headers=_NO_STORE)


@routes.post("/oauth/revoke")
async def revoke(request: web.Request) -> web.Response:
    """RFC 7009: 200 with an empty body, also for a token that is unknown or revoked already."""
    try:
        _server(request).revoke(await _form(request))
    except OAuthError as err:
        return _error(err)
    return web.Response(status=200)


@routes.get("/__emulator/oauth")
async def oauth_state(request: web.Request) -> web.Response:
    """Counters (registrations, authorizations, code exchanges, refreshes, revocations) and grants."""
    return web.json_response(_server(request).summary())


@routes.post("/__emulator/oauth/revoke-all")
async def revoke_all(request: web.Request) -> web.Response:
    """Revoke every grant: refreshes are refused from now on."""
    return web.json_response({"revoked": _server(request).revoke_all()})
