"""The OAuth endpoints on the public port, and the check of an MCP request's access token.

Routes (the issuer is GMCP_FACADE_PUBLIC_BASE_URL, or the request's own origin when unset):
- `GET /.well-known/oauth-protected-resource/mcp/{token}`: RFC 9728 metadata of one OAuth MCP
  server (404 for a server without OAuth, like any unknown token);
- `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata;
- `POST /oauth/register` (RFC 7591), `GET|POST /oauth/authorize` (the consent page),
  `POST /oauth/token`, `POST /oauth/revoke` (RFC 7009);
- `GET /oauth/oidc/callback`: the identity provider's redirect back (oidc.py), when one is set.

An MCP request to an OAuth server without a valid access token for that server gets 401 with
`WWW-Authenticate: Bearer resource_metadata="…"` (MCP specification, "Authorization").
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlencode, urlsplit

from aiohttp import web
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnsupportedResponseTypeError,
)

from ..transport.auth import BackendUnavailable, NotFound, Resolved
from ..transport.security import HostPolicy
from .cimd import ClientMetadataError
from .consent import consent_page, error_page
from .oidc import OidcError, PendingSignIn, consent_allows
from .service import (
    SCOPE,
    AuthorizationRequest,
    Grant,
    InvalidTargetError,
    OAuthService,
    Person,
    unsupported_grant_type,
)
from .store import StoreUnavailable

if TYPE_CHECKING:
    from ..contracts import Toolbox

__all__ = ["OAuthEndpoints"]

logger = logging.getLogger(__name__)

_RESOURCE_PATH: Final = re.compile(r"/mcp/([^/?#]+)")
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The consent page must not be framed (clickjacking) nor leak its query (codes, state) onward.
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MAX_FORM_BYTES: Final = 16 * 1024


def _oauth_error(error: OAuth2Error, headers: dict[str, str] | None = None) -> web.Response:
    body = dict(error.get_body())
    return web.json_response(body, status=error.status_code, headers={**_NO_STORE, **(headers or {})})


class OAuthEndpoints:
    """The aiohttp handlers, over the public app's Host policy and URL-token resolution."""

    def __init__(
        self,
        public_base_url: str | None,
        policy: HostPolicy,
        resolve: Callable[[str], Awaitable[Resolved]],
        toolbox: Toolbox,
        service: OAuthService,
    ) -> None:
        self._public_base_url = public_base_url
        self._policy = policy
        self._resolve = resolve
        self.toolbox = toolbox
        self.service = service

    def add_routes(self, app: web.Application) -> None:
        """Register the routes (before the façade's catch-all /.well-known 404)."""
        route: Any = app.router
        route.add_get("/.well-known/oauth-protected-resource/mcp/{token}", self.resource_metadata)
        route.add_get("/.well-known/oauth-authorization-server", self.server_metadata)
        route.add_post("/oauth/register", self.register)
        route.add_get("/oauth/authorize", self.authorize)
        route.add_post("/oauth/authorize", self.consent)
        route.add_post("/oauth/token", self.token)
        route.add_post("/oauth/revoke", self.revoke)
        route.add_get("/oauth/oidc/callback", self.oidc_callback)

    # -- helpers ---------------------------------------------------------------------------------

    def issuer(self, request: web.Request) -> str:
        """This authorization server's issuer identifier (also the resources' origin)."""
        base = self._public_base_url
        return base.rstrip("/") if base else f"{request.scheme}://{request.host}"

    def _check_host(self, request: web.Request) -> None:
        if not self._policy.host_ok(request.headers.get("Host")):
            raise web.HTTPMisdirectedRequest(text="Host not allowed")

    async def _oauth_server(self, token: str) -> Resolved | None:
        """The resolved record of an OAuth MCP server's URL token, or None (unknown, no OAuth)."""
        try:
            resolved = await self._resolve(token)
        except NotFound:
            return None
        return resolved if resolved.require_oauth else None

    async def _resource(self, request: web.Request, resource: str | None) -> tuple[str, Resolved]:
        """The `resource` of an authorization request, checked to be an OAuth server here."""
        if not resource:
            raise InvalidTargetError(description="resource is required (RFC 8707): the MCP server URL")
        issuer = self.issuer(request)
        parts = urlsplit(resource)
        match = _RESOURCE_PATH.fullmatch(parts.path)
        if f"{parts.scheme}://{parts.netloc}" != issuer or match is None or parts.query or parts.fragment:
            raise InvalidTargetError(description=f"resource must be an MCP server URL of {issuer}")
        resolved = await self._oauth_server(unquote(match.group(1)))
        if resolved is None:
            raise InvalidTargetError(description="resource is not an MCP server that signs in with OAuth")
        return resource, resolved

    # -- metadata --------------------------------------------------------------------------------

    async def resource_metadata(self, request: web.Request) -> web.Response:
        """RFC 9728 protected-resource metadata of one OAuth MCP server."""
        self._check_host(request)
        token = request.match_info["token"]
        try:
            resolved = await self._oauth_server(token)
        except BackendUnavailable:
            return web.json_response(
                {"error": "temporarily_unavailable"}, status=503, headers={"Retry-After": "5"}
            )
        if resolved is None:
            return web.json_response({"error": "not_found"}, status=404)
        issuer = self.issuer(request)
        return web.json_response(
            {
                "resource": f"{issuer}/mcp/{token}",
                "authorization_servers": [issuer],
                "scopes_supported": [SCOPE],
                "bearer_methods_supported": ["header"],
                "resource_name": resolved.scope.name,
            }
        )

    async def server_metadata(self, request: web.Request) -> web.Response:
        """RFC 8414 authorization server metadata."""
        self._check_host(request)
        issuer = self.issuer(request)
        methods = ["none", "client_secret_post", "client_secret_basic"]
        return web.json_response(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/oauth/authorize",
                "token_endpoint": f"{issuer}/oauth/token",
                "registration_endpoint": f"{issuer}/oauth/register",
                "revocation_endpoint": f"{issuer}/oauth/revoke",
                "scopes_supported": [SCOPE],
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": methods,
                "revocation_endpoint_auth_methods_supported": methods,
                "authorization_response_iss_parameter_supported": True,
                "client_id_metadata_document_supported": self.service.metadata_documents is not None,
            }
        )

    # -- registration (RFC 7591) -------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        """Dynamic Client Registration."""
        self._check_host(request)
        try:
            raw = await request.content.read(_MAX_FORM_BYTES + 1)
            if len(raw) > _MAX_FORM_BYTES:
                raise InvalidRequestError(description="registration request too large")
            try:
                metadata = json.loads(raw or b"null")
            except (ValueError, RecursionError):  # RecursionError: a nesting bomb
                raise InvalidRequestError(description="the body must be a JSON object") from None
            if not isinstance(metadata, dict):
                raise InvalidRequestError(description="the body must be a JSON object")
            body = await self.service.register_client(metadata)
        except OAuth2Error as error:
            return _oauth_error(error)
        except StoreUnavailable:
            return _unavailable()
        return web.json_response(body, status=201, headers=_NO_STORE)

    # -- authorization and consent ---------------------------------------------------------------

    async def _authorization_request(self, request: web.Request, params: Any) -> AuthorizationRequest:
        """Check an authorization request. Errors before the redirect URI is trusted raise
        `_PageError` (shown, never redirected); later ones raise OAuth2Error (redirected)."""
        try:
            client = await self.service.client(str(params.get("client_id", "")))
        except ClientMetadataError as error:
            raise _PageError("Client metadata document unusable", str(error)) from None
        if client is None:
            raise _PageError("Unknown client", "This application is not registered with this server.")
        # Required, as in OAuth 2.1: the token request then always names it too (checked equal there).
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise _PageError("Invalid redirect", "The redirect URI is not one this application registered.")
        state = params.get("state")
        try:
            if params.get("response_type") != "code":
                raise UnsupportedResponseTypeError(str(params.get("response_type"))[:50])
            challenge = self.service.check_challenge(
                params.get("code_challenge"), params.get("code_challenge_method")
            )
            scopes = set(str(params.get("scope") or SCOPE).split())
            if SCOPE not in scopes and scopes:
                raise InvalidScopeError(description=f"the only scope is {SCOPE!r}")
            resource, resolved = await self._resource(request, params.get("resource"))
        except OAuth2Error as error:
            raise _Redirect(redirect_uri, state, error) from None
        return AuthorizationRequest(
            client=client,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=challenge,
            resource=resource,
            server_id=resolved.scope.server_id,
            account_id=resolved.scope.account_id,
        )

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        """GET /oauth/authorize: the consent page."""
        self._check_host(request)
        try:
            auth = await self._authorization_request(request, request.query)
            resolved = await self._resolve(_url_token(auth.resource))
            tools = [_tool_label(t) for t in await self.toolbox.list_tools(resolved.scope)]
        except _PageError as page:
            return page.response()
        except _Redirect as redirect:
            return redirect.response(self.issuer(request))
        except (BackendUnavailable, StoreUnavailable, NotFound):
            return _unavailable()
        html = consent_page(
            server_name=resolved.scope.name,
            client_name=auth.client.client_name or auth.client.client_id,
            redirect_host=urlsplit(auth.redirect_uri).netloc,
            tools=tools,
            server_expires_at=resolved.server_expires_at,
            params={k: v for k, v in request.query.items() if k in _AUTHORIZE_PARAMS},
            identity_provider=urlsplit(self.service.oidc.issuer).netloc if self.service.oidc else None,
        )
        return web.Response(text=html, content_type="text/html", headers=_PAGE_HEADERS)

    async def consent(self, request: web.Request) -> web.StreamResponse:
        """POST /oauth/authorize: the person's answer (a connect code, or deny; with an identity
        provider, allow sends them to sign in there)."""
        self._check_host(request)
        if (request.content_length or 0) > _MAX_FORM_BYTES:
            return error_page("Request too large", "The form is too large.", 413)
        form = await request.post()
        issuer = self.issuer(request)
        try:
            auth = await self._authorization_request(request, form)
            if form.get("decision") != "allow":
                raise _Redirect(
                    auth.redirect_uri, auth.state, AccessDeniedError(description="the person declined")
                )
            if self.service.oidc is not None:
                return await self._start_sign_in(request, form)
            try:
                person = await self.service.redeem_connect_code(
                    str(form.get("connect_code", "")), auth.server_id
                )
            except AccessDeniedError as error:
                raise _Redirect(auth.redirect_uri, auth.state, error) from None
            code = await self.service.issue_code(auth, person)
        except _PageError as page:
            return page.response()
        except _Redirect as redirect:
            return redirect.response(issuer)
        except (BackendUnavailable, StoreUnavailable):
            return _unavailable()
        return _consented(auth, person, code, issuer)

    # -- sign-in at the identity provider (oidc.py) -----------------------------------------------

    async def _start_sign_in(self, request: web.Request, form: Any) -> web.StreamResponse:
        """Keep the authorization request under a fresh state and send the person to the provider."""
        assert self.service.oidc is not None
        try:
            pending = await self.service.oidc.start(self._callback_uri(request))
        except OidcError as error:
            logger.warning("oauth: identity provider unavailable: %s", error)
            return error_page("Sign-in unavailable", "The identity provider could not be reached.", 502)
        params = {k: str(v) for k, v in form.items() if k in _AUTHORIZE_PARAMS}
        await self.service.hold_sign_in(pending.state, params, pending.nonce, pending.code_verifier)
        return web.Response(status=303, headers={"Location": pending.url, **_NO_STORE})

    def _callback_uri(self, request: web.Request) -> str:
        return self.issuer(request) + "/oauth/oidc/callback"

    async def oidc_callback(self, request: web.Request) -> web.StreamResponse:
        """GET /oauth/oidc/callback: the provider's answer; check who signed in, then the code."""
        self._check_host(request)
        oidc = self.service.oidc
        if oidc is None:
            return error_page("Not found", "No identity provider is configured.", 404)
        issuer = self.issuer(request)
        try:
            held = await self.service.take_sign_in(request.query.get("state", ""))
            if held is None:
                raise _PageError("Sign-in expired", "This sign-in is unknown, used or expired; start again.")
            auth = await self._authorization_request(request, held["params"])
            if "code" not in request.query:
                error = AccessDeniedError(description="the sign-in at the identity provider did not complete")
                raise _Redirect(auth.redirect_uri, auth.state, error)
            pending = PendingSignIn(
                state="", nonce=held["nonce"], code_verifier=held["code_verifier"], url=""
            )
            try:
                identity = await oidc.finish(request.query["code"], self._callback_uri(request), pending)
            except OidcError as failure:
                logger.warning("oauth: identity provider sign-in failed: %s", failure)
                raise _Redirect(
                    auth.redirect_uri, auth.state, AccessDeniedError(description="the sign-in failed")
                ) from None
            resolved = await self._resolve(_url_token(auth.resource))
            if not consent_allows(resolved.scope, identity.email, identity.groups):
                logger.info(
                    "oauth: %s is not allowed to consent on server %s", identity.label, auth.server_id
                )
                refused = AccessDeniedError(
                    description=f"{identity.label} is not allowed to connect to this server"
                )
                raise _Redirect(auth.redirect_uri, auth.state, refused)
            person = Person(identity.label, "oidc", identity.email, identity.groups)
            code = await self.service.issue_code(auth, person)
        except _PageError as page:
            return page.response()
        except _Redirect as redirect:
            return redirect.response(issuer)
        except (BackendUnavailable, StoreUnavailable, NotFound):
            return _unavailable()
        return _consented(auth, person, code, issuer)

    # -- token and revocation --------------------------------------------------------------------

    async def _client(self, request: web.Request, form: Any) -> Any:
        client_id, secret = str(form.get("client_id", "")), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise InvalidClientError(description="malformed Basic credentials", status_code=401) from None
            user, _, password = decoded.partition(":")
            client_id, secret = unquote(user), unquote(password)
        return await self.service.authenticate_client(client_id, str(secret) if secret else None)

    async def token(self, request: web.Request) -> web.Response:
        """POST /oauth/token: authorization_code and refresh_token grants."""
        self._check_host(request)
        try:
            if (request.content_length or 0) > _MAX_FORM_BYTES:
                raise InvalidRequestError(description="request too large")
            form = await request.post()
            client = await self._client(request, form)
            grant_type = form.get("grant_type")
            resource = form.get("resource")
            resource = str(resource) if resource is not None else None
            if grant_type == "authorization_code":
                tokens = await self.service.exchange_code(
                    client,
                    str(form.get("code", "")),
                    _opt(form.get("redirect_uri")),
                    _opt(form.get("code_verifier")),
                    resource,
                )
            elif grant_type == "refresh_token":
                allowed = None
                if resource is not None:
                    # The server's current allowed set (a person removed from it is refused here).
                    _, resolved = await self._resource(request, resource)
                    scope = resolved.scope
                    allowed = lambda grant: grant.allowed_on(scope)  # noqa: E731
                tokens = await self.service.refresh(
                    client, str(form.get("refresh_token", "")), resource, allowed
                )
            else:
                raise unsupported_grant_type(_opt(grant_type))
        except InvalidClientError as error:
            return _oauth_error(error, {"WWW-Authenticate": 'Basic realm="oauth"'})
        except OAuth2Error as error:
            return _oauth_error(error)
        except (StoreUnavailable, BackendUnavailable):
            return _unavailable()
        return web.json_response(tokens.body(), headers=_NO_STORE)

    async def revoke(self, request: web.Request) -> web.Response:
        """POST /oauth/revoke (RFC 7009): 200 whether or not the token was known."""
        self._check_host(request)
        try:
            if (request.content_length or 0) > _MAX_FORM_BYTES:
                raise InvalidRequestError(description="request too large")
            form = await request.post()
            client = await self._client(request, form)
            token = form.get("token")
            if not token:
                raise InvalidRequestError(description="token is required")
            await self.service.revoke_token(client, str(token))
        except InvalidClientError as error:
            return _oauth_error(error, {"WWW-Authenticate": 'Basic realm="oauth"'})
        except OAuth2Error as error:
            return _oauth_error(error)
        except StoreUnavailable:
            return _unavailable()
        return web.Response(status=200, headers=_NO_STORE)

    # -- the MCP endpoint's check ----------------------------------------------------------------

    async def verify(
        self, request: web.Request, resolved: Resolved, authorization: str | None
    ) -> Grant | None:
        """The grant behind a request's `Authorization: Bearer` for this server, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        grant = await self.service.verify_access_token(token.strip(), resolved.scope.server_id)
        if grant is not None and not grant.allowed_on(resolved.scope):
            # Removed from the server's allowed set: the grant ends (on every replica, with its work).
            logger.info("oauth: %s is no longer allowed on server %s", grant.subject, grant.server_id)
            await self.service.revoke_grant(grant.id)
            return None
        return grant

    def challenge(self, request: web.Request, token: str, presented: bool) -> str:
        """The `WWW-Authenticate` value of a 401 from an OAuth MCP server."""
        metadata = f"{self.issuer(request)}/.well-known/oauth-protected-resource/mcp/{token}"
        value = f'Bearer resource_metadata="{metadata}", scope="{SCOPE}"'
        if presented:
            value += (
                ', error="invalid_token", error_description="the access token is invalid, expired or revoked"'
            )
        return value


_AUTHORIZE_PARAMS: Final = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "resource",
        "scope",
    }
)


def _consented(auth: AuthorizationRequest, person: Person, code: str, issuer: str) -> web.Response:
    """The client's redirect with the authorization code (RFC 6749 4.1.2, RFC 9207 `iss`)."""
    logger.info(
        "oauth: %s consented for client %s on server %s",
        person.subject,
        auth.client.client_id,
        auth.server_id,
    )
    query = {"code": code, "iss": issuer}
    if auth.state is not None:
        query["state"] = auth.state
    return _see_other(auth.redirect_uri, query)


def _tool_label(tool: dict[str, Any]) -> str:
    """The tool's name, then the first sentence of its description (the published form has no title)."""
    description = str(tool.get("description") or "").split(". ", 1)[0].rstrip(".")
    return f"{tool['name']} — {description}" if description else str(tool["name"])


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _url_token(resource: str) -> str:
    match = _RESOURCE_PATH.fullmatch(urlsplit(resource).path)
    return unquote(match.group(1)) if match else ""


def _unavailable() -> web.Response:
    return web.json_response(
        {"error": "temporarily_unavailable", "error_description": "a backend is unavailable; retry shortly"},
        status=503,
        headers={"Retry-After": "5", **_NO_STORE},
    )


def _see_other(uri: str, query: dict[str, str]) -> web.Response:
    separator = "&" if urlsplit(uri).query else "?"
    return web.Response(status=303, headers={"Location": f"{uri}{separator}{urlencode(query)}", **_NO_STORE})


class _PageError(Exception):
    """An authorization error shown to the person (the redirect URI is not trusted yet)."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(title)
        self.title = title
        self.message = message

    def response(self) -> web.Response:
        return error_page(self.title, self.message, 400)


class _Redirect(Exception):  # noqa: N818 - a control-flow signal, not an error of ours
    """An authorization error sent back to the client's redirect URI (RFC 6749 4.1.2.1)."""

    def __init__(self, redirect_uri: str, state: str | None, error: OAuth2Error) -> None:
        super().__init__(error.error)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error

    def response(self, issuer: str) -> web.Response:
        query = {str(k): str(v) for k, v in self.error.get_body()} | {"iss": issuer}
        if self.state is not None:
            query["state"] = self.state
        return _see_other(self.redirect_uri, query)
