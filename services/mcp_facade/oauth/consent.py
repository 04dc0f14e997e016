"""The consent page: which server, which tools, until when, and who signs in how.

Plain HTML, no script; every value is escaped. The form posts back the authorization request's
parameters (checked again on POST) with the person's decision and, without an identity provider,
their connect code; with one, "Allow" sends them to the provider to sign in (oidc.py).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

__all__ = ["consent_page", "error_page"]

# Shown in full up to this many tools; beyond, the first ones and a count.
_MAX_TOOLS_SHOWN: Final = 60
_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "ul{max-height:18rem;overflow:auto;border:1px solid #ddd;padding:.5rem 1.5rem}"
    "input[type=text]{width:100%;padding:.4rem;font-family:monospace}"
    "button{margin:.8rem .5rem 0 0;padding:.4rem 1rem}"
)


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _expiry(server_expires_at: float) -> str:
    if not server_expires_at:
        return "does not expire"
    return "expires " + datetime.fromtimestamp(server_expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def consent_page(
    *,
    server_name: str,
    client_name: str,
    redirect_host: str,
    tools: Sequence[str],
    server_expires_at: float,
    params: Mapping[str, str],
    identity_provider: str | None = None,
) -> str:
    """The consent page HTML; `identity_provider` (its host) replaces the connect code field."""
    shown = "".join(f"<li>{_e(t)}</li>" for t in tools[:_MAX_TOOLS_SHOWN])
    if len(tools) > _MAX_TOOLS_SHOWN:
        shown += f"<li>… and {len(tools) - _MAX_TOOLS_SHOWN} more</li>"
    if identity_provider:
        proof = (
            f"<p>Allowing signs you in with <code>{_e(identity_provider)}</code>; only the people this "
            "server's administrator allowed may connect.</p>\n"
            '<button type="submit" name="decision" value="allow">Sign in and allow</button>'
        )
    else:
        proof = (
            '<label for="connect_code">Your connect code (from your administrator):</label>\n'
            '<input type="text" id="connect_code" name="connect_code" autocomplete="off" required>\n'
            '<button type="submit" name="decision" value="allow">Allow</button>'
        )
    hidden = "".join(f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in params.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect to {_e(server_name)}</title>
<style>{_STYLE}</style></head><body>
<h1>Connect {_e(client_name)} to “{_e(server_name)}”</h1>
<p>{_e(client_name)} (returning to <code>{_e(redirect_host)}</code>) asks to use this MCP server on your
behalf. The server {_e(_expiry(server_expires_at))}.</p>
<p>It will see these {len(tools)} tools:</p>
<ul id="tools">{shown}</ul>
<form method="post" action="/oauth/authorize">{hidden}
{proof}
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form></body></html>"""


def error_page(title: str, message: str, status: int) -> web.Response:
    """An error shown to the person (nothing is redirected)."""
    body = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title></head>"
        f"<body><h1>{_e(title)}</h1><p>{_e(message)}</p></body></html>"
    )
    return web.Response(
        text=body,
        status=status,
        content_type="text/html",
        headers={"X-Frame-Options": "DENY", "Cache-Control": "no-store"},
    )
