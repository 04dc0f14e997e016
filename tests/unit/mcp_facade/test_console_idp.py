"""The console's identity-provider pieces without a network: its allowed set from settings, the
shared allowed-set rule, the Accept negotiation of the account OAuth callback's page, and an
operator's session ending (its token revoked) once they leave the console's allowed set."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as tpb
from services.mcp_facade.console.app import (
    IDP_KEY,
    SESSION_COOKIE,
    SESSIONS_KEY,
    TEMPLATES_KEY,
    Templates,
    console_middleware,
)
from services.mcp_facade.console.callback import prefers_html
from services.mcp_facade.console.idp import ConsoleIdentityProvider, console_allowed_set
from services.mcp_facade.console.mount import HERE as CONSOLE_HERE
from services.mcp_facade.console.sessions import MemoryConsoleSessions, Operator
from services.mcp_facade.oauth.oidc import AllowedSet, OidcProvider
from services.mcp_facade.oauth.store import MemoryGrantStore
from services.mcp_facade.settings import FacadeSettings


def test_the_console_allowed_set_defaults_to_nobody() -> None:
    allowed = console_allowed_set(FacadeSettings())
    assert allowed.empty
    assert not allowed.allows("ada@example.com", ["staff"])
    assert not allowed.allows("", [])


def test_the_console_allowed_set_normalises_emails_and_domains() -> None:
    settings = FacadeSettings(
        console_allowed_emails=[" Ada@Example.COM "],
        console_allowed_domains=["@Ops.Example.org", " "],
        console_allowed_groups=["platform"],
    )
    allowed = console_allowed_set(settings)
    assert allowed == AllowedSet(
        frozenset({"ada@example.com"}), frozenset({"ops.example.org"}), frozenset({"platform"})
    )
    assert allowed.allows("ADA@example.com", [])
    assert allowed.allows("bob@ops.example.org", [])
    assert not allowed.allows("bob@example.org", [])  # another domain, not a suffix match
    assert not allowed.allows("bob@evil-ops.example.org", [])
    assert allowed.allows("", ["visitors", "platform"])
    assert not allowed.allows("", ["Platform"])  # groups are compared exactly


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # Chromium's navigation
        ("*/*", False),  # curl, httpx
        ("", False),
        ("application/json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0.9, application/json;q=0.8", True),
        ("text/html;q=0", False),
        ("TEXT/HTML", True),
        ("text/html;q=bogus", False),
    ],
)
def test_the_callback_answers_a_page_only_when_html_is_preferred(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


class _Tokens:
    """The token service's RevokeApiToken, recording the ids asked for."""

    def __init__(self) -> None:
        self.revoked: list[str] = []

    async def RevokeApiToken(self, request: tpb.RevokeApiTokenRequest, timeout: float) -> None:  # noqa: N802
        self.revoked.append(request.id)


async def test_removal_from_the_console_allowed_set_ends_the_session_and_revokes_its_token(
    aiohttp_client: Any,
) -> None:
    tokens = _Tokens()
    idp = ConsoleIdentityProvider(
        OidcProvider("http://127.0.0.1:9", "console", "secret"),
        AllowedSet.of(["ada@example.com"], [], ["ops"]),
        MemoryGrantStore(),
        tokens,  # type: ignore[arg-type]
        3_600,
    )
    sessions = MemoryConsoleSessions()
    app = web.Application(middlewares=[console_middleware])
    app[SESSIONS_KEY], app[IDP_KEY] = sessions, idp
    app[TEMPLATES_KEY] = Templates(CONSOLE_HERE / "templates")  # the error page's

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="the accounts page")

    app.router.add_get("/console/accounts", page)
    app.router.add_post("/console/accounts", page)
    client = await aiohttp_client(app)
    ada_id, ada = await sessions.start(
        "gmcpat_minted", Operator("ada@example.com", "ada@example.com", (), "tok_ada")
    )
    bob_id, _ = await sessions.start("gmcpat_bob", Operator("bob@x.org", "bob@x.org", ("ops",), "tok_bob"))
    pasted_id, _ = await sessions.start("gmcpat_pasted")

    async def get(session_id: str) -> tuple[int, str]:
        headers = {"Cookie": f"{SESSION_COOKIE}={session_id}"}
        async with client.get("/console/accounts", headers=headers, allow_redirects=False) as resp:
            return resp.status, resp.headers.get("Location", await resp.text())

    assert await get(ada_id) == (200, "the accounts page")
    idp.allowed = AllowedSet.of([], [], ["ops"])  # ada's email goes; bob's group stays
    assert await get(ada_id) == (303, "/console/login")
    assert tokens.revoked == ["tok_ada"]  # the token minted for her session ends with it
    assert await sessions.get(ada_id) is None
    headers = {"Cookie": f"{SESSION_COOKIE}={ada_id}", "X-CSRF-Token": ada.csrf}
    async with client.post("/console/accounts", headers=headers) as refused:
        assert refused.status == 403  # her CSRF token is of no use either
    assert await get(bob_id) == (200, "the accounts page")
    assert await get(pasted_id) == (200, "the accounts page")  # a pasted token is not an identity
    assert tokens.revoked == ["tok_ada"]
