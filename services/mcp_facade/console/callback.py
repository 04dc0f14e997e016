"""The HTML answer of the management API's Gumloop OAuth callback, for a browser (management/ calls it).

`GET /integrated-account/oauth/callback` answers JSON to API clients and, when the request prefers
`text/html` (a browser arriving from Gumloop's authorization page), this page: the connected account,
or what went wrong. When the console started the flow (its short-lived `RETURN_COOKIE`, scoped to the
callback's path), the page moves on to the account's console page by itself; a flow started from
the CLI or the API stays on this page.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from .app import CONSOLE_PREFIX, SECURITY_HEADERS, render

__all__ = ["CALLBACK_PATH", "RETURN_COOKIE", "account_callback_page", "prefers_html"]

CALLBACK_PATH: Final = "/integrated-account/oauth/callback"
# Set by the console's "Connect with OAuth" / "Reconnect" (SameSite=Lax: Gumloop's redirect back is a
# cross-site navigation), read and cleared by the callback page.
RETURN_COOKIE: Final = "gmcp_console_return"


def _quality(part: str) -> float:
    for param in part.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def prefers_html(accept: str) -> bool:
    """Whether an Accept header names text/html and ranks it at least as high as application/json."""
    ranks: dict[str, float] = {}
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media:
            ranks[media] = max(ranks.get(media, 0.0), _quality(part))
    html = ranks.get("text/html", 0.0)
    return html > 0 and html >= ranks.get("application/json", 0.0)


def account_callback_page(
    request: web.Request, *, account: dict[str, Any] | None = None, status: int = 200, error: str = ""
) -> web.Response:
    """The page for a browser: the connected account (`account`), or the failure (`status`, `error`)."""
    back = request.cookies.get(RETURN_COOKIE) == "1"
    console_page = (
        f"{CONSOLE_PREFIX}/accounts/{account['id']}/mcp?notice=account-connected" if account else ""
    )
    response = render(
        request,
        "oauth_callback.html",
        status=status,
        account=account,
        failure=error,
        next=console_page if back else "",
        console_page=console_page or f"{CONSOLE_PREFIX}/accounts",
    )
    response.headers.update(SECURITY_HEADERS)
    if back:
        response.del_cookie(RETURN_COOKIE, path=CALLBACK_PATH)
    return response
