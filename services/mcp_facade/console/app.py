"""The admin console's request handling: security headers, sign-in, CSRF, rendering (mount.py wires it).

Every page under /console/ (static files aside) needs a signed-in session; every state-changing
request needs the session's CSRF token (form field `csrf` or header `X-CSRF-Token`; the sign-in form
uses a double-submit cookie). Every answer carries a strict Content-Security-Policy (`default-src
'self'`, no inline script or style), `no-store`, `Referrer-Policy: same-origin` and `frame-ancestors 'none'`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from .client import ManagementClient
from .idp import ConsoleIdentityProvider
from .sessions import ConsoleSession, ConsoleSessions, SessionStoreUnavailable

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "CONSOLE_PREFIX",
    "SECURITY_HEADERS",
    "ConsoleError",
    "Templates",
    "client",
    "console_middleware",
    "identity_provider",
    "render",
    "session_of",
    "static_file",
]

CONSOLE_PREFIX: Final = "/console"
SESSION_COOKIE: Final = "gmcp_console"
LOGIN_COOKIE: Final = "gmcp_console_login"
# Binds a sign-in at the identity provider to the browser that started it (SameSite=Lax: the
# provider's redirect back is a cross-site navigation, which a Strict cookie would not follow).
OIDC_COOKIE: Final = "gmcp_console_oidc"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_HERE: Final = Path(__file__).parent
SESSIONS_KEY: Final = web.AppKey("console_sessions", ConsoleSessions)
CLIENT_KEY: Final = web.AppKey("console_client", ManagementClient)
# Set only when an identity provider is configured (GMCP_FACADE_OIDC_ISSUER).
IDP_KEY: Final = web.AppKey("console_idp", ConsoleIdentityProvider)
_SESSION: Final = web.RequestKey("console_session", ConsoleSession)
# Reachable without a session: the sign-in page and the stylesheet and script.
_OPEN: Final = frozenset(
    {f"{CONSOLE_PREFIX}/login", f"{CONSOLE_PREFIX}/oidc/start", f"{CONSOLE_PREFIX}/oidc/callback"}
)
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Templates:
    """The console's Jinja2 templates (autoescaped, strict undefined) from `directory`, loaded on the
    first page rendered: jinja2 is imported then, so an idle façade whose console nobody opens does not
    hold it."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._environment: jinja2.Environment | None = None

    @property
    def environment(self) -> jinja2.Environment:
        if self._environment is None:
            import jinja2

            self._environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader(self._directory),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
            )
        return self._environment

    def render(self, template: str, **context: Any) -> str:
        return self.environment.get_template(template).render(**context)


TEMPLATES_KEY: Final = web.AppKey("console_templates", Templates)


class ConsoleError(Exception):
    """A failed action, answered as the error page with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def session_of(request: web.Request) -> ConsoleSession:
    """The signed-in session (the middleware guarantees one on every console page but sign-in)."""
    session: ConsoleSession = request[_SESSION]
    return session


def client(request: web.Request) -> ManagementClient:
    return request.app[CLIENT_KEY]


def sessions(request: web.Request) -> ConsoleSessions:
    return request.app[SESSIONS_KEY]


def identity_provider(request: web.Request) -> ConsoleIdentityProvider | None:
    """The console's sign-in at the identity provider, when one is configured."""
    return request.app.get(IDP_KEY)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A page from console/templates, with the session's CSRF token and the current path."""
    session = request.get(_SESSION)
    context.setdefault("csrf", session.csrf if session is not None else "")
    context.setdefault("signed_in", session is not None)
    context.setdefault("operator", session.operator.label if session is not None and session.operator else "")
    context["path"] = request.path
    html = request.app[TEMPLATES_KEY].render(template, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def secure_cookie(request: web.Request) -> bool:
    """Secure cookies when the console is served over TLS."""
    return request.secure


# same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on form posts, which the
# admin port's Origin check rightly refuses.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _harden(response: web.StreamResponse) -> None:
    if not response.prepared:  # a streamed answer (an export) was sent with SECURITY_HEADERS already
        response.headers.update(SECURITY_HEADERS)


async def _csrf_candidate(request: web.Request) -> str | None:
    if (header := request.headers.get("X-CSRF-Token")) is not None:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get("csrf")
        return value if isinstance(value, str) else None
    return None


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers, sign-in and CSRF for /console/ (other admin paths pass through untouched)."""
    if request.path != CONSOLE_PREFIX and not request.path.startswith(CONSOLE_PREFIX + "/"):
        return await handler(request)
    try:
        response = await _guarded(request, handler)
    except ConsoleError as err:
        response = render(request, "error.html", status=err.status, message=err.message)
    except SessionStoreUnavailable:
        message = "The console's session store is unavailable; retry shortly."
        response = render(request, "error.html", status=503, message=message)
    except web.HTTPException as exc:
        if exc.status < 400:  # a redirect
            _harden(exc)
            raise
        response = render(request, "error.html", status=exc.status, message=exc.text or exc.reason)
    _harden(response)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    static = request.path.startswith(f"{CONSOLE_PREFIX}/static/")
    if not static:
        session_id = request.cookies.get(SESSION_COOKIE)
        session = await sessions(request).get(session_id)
        if session is not None and session.operator is not None:
            idp = identity_provider(request)
            if idp is None or not idp.still_allowed(session.operator):
                # Removed from the console's allowed set (or the provider unset): the session ends.
                await sessions(request).end(session_id)
                if idp is not None:
                    await idp.revoke(session.operator)
                session = None
        if session is not None:
            request[_SESSION] = session
        elif request.path not in _OPEN:
            if request.method in _SAFE_METHODS:
                raise web.HTTPSeeOther(f"{CONSOLE_PREFIX}/login")
            raise web.HTTPForbidden(text="sign in first (the session has ended)")
        if request.method not in _SAFE_METHODS and request.path not in _OPEN:
            assert session is not None
            if not session.csrf_ok(await _csrf_candidate(request)):
                raise web.HTTPForbidden(text="the form's CSRF token is missing or wrong: reload the page")
    return await handler(request)


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["filename"]
    if name not in ("console.css", "console.js"):
        raise web.HTTPNotFound()
    return web.FileResponse(_HERE / "static" / name)
