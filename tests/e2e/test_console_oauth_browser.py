"""The console with the identity provider and Gumloop's OAuth, in a real browser on the real stack.

Operators sign in at a real OpenID Connect provider process (`oidc-provider-mock`, the fixture of
test_oauth_oidc.py): one in GMCP_FACADE_CONSOLE_ALLOWED_DOMAINS sees the accounts and their servers
through a management token the console minted for the session (revoked at sign-out); an outsider is
refused and gets no session. A Gumloop account is connected with "Connect with OAuth" against the
emulator's OAuth server and lands back on its console page; after Gumloop refuses its refresh it shows
"Reconnect", which restores it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Stack, start_stack
from .test_console_browser import _axe, _context, _run, _shot, _sign_in, browser
from .test_oauth_oidc import CLIENT_ID, identity_provider
from .test_system import session

__all__ = ["browser", "identity_provider"]  # the fixtures this module uses from its neighbours


@pytest.fixture(scope="module")
def stack(identity_provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "GMCP_FACADE_OIDC_ISSUER": identity_provider,
        "GMCP_FACADE_OIDC_CLIENT_ID": CLIENT_ID,
        "GMCP_FACADE_OIDC_CLIENT_SECRET": "e2e-client-secret",
        "GMCP_FACADE_CONSOLE_ALLOWED_DOMAINS": json.dumps(["allowed.test"]),
    }
    with start_stack(Path(tmp_path_factory.mktemp("e2e-console-oauth")), env_extra=env) as running:
        yield running


def _api_tokens(stack: Stack) -> list[dict[str, Any]]:
    with httpx.Client(base_url=stack.admin, headers=stack.auth, timeout=30) as http:
        listed = http.get("/api-tokens", params={"limit": "100"})
    assert listed.status_code == 200, listed.text
    result: list[dict[str, Any]] = listed.json()["result"]
    return result


async def _teams_call_fails(url: str) -> bool:
    """Whether a tool call that reaches Gumloop fails (True) or answers (False)."""
    async with session(url) as client:
        result = await client.call_tool("list_all_gumloop_teams", {})
    return bool(result.is_error)


def _idp_sign_in(page: Any, stack: Stack, sub: str) -> None:
    page.goto(f"{stack.admin}/console/")
    assert page.url.endswith("/console/login")
    page.click("#sign-in-idp")
    page.click(f"button[name=sub][value={sub}]")  # the provider's sign-in page: a predefined user


def test_an_allowed_operator_signs_in_at_the_identity_provider_and_an_outsider_is_refused(
    browser: Any, stack: Stack
) -> None:
    account_id = stack.ready["account_id"]
    with httpx.Client(base_url=stack.admin, headers=stack.auth, timeout=30) as http:
        made = http.post(f"/integrated-account/{account_id}/mcp", json={"name": "Seen by the operator"})
        assert made.status_code == 201, made.text

    context = _context(browser, stack)
    page = context.new_page()
    page.goto(f"{stack.admin}/console/login")
    assert "127.0.0.1" in page.inner_text("form:has(#sign-in-idp)")
    _axe(page)
    _shot(page, "login")
    _idp_sign_in(page, stack, "alice")
    page.wait_for_url("**/console/accounts")
    assert page.inner_text(".operator") == "alice@allowed.test"
    page.click(f"a[href='/console/accounts/{account_id}/mcp']")
    page.wait_for_url(f"**/console/accounts/{account_id}/mcp")
    assert page.locator("tr", has_text="Seen by the operator").count() == 1

    # The session's authority: a management token minted for alice, never in the browser.
    minted = [t for t in _api_tokens(stack) if t["name"] == "console: alice@allowed.test"]
    assert (
        len(minted) == 1 and minted[0]["purpose"] == ["management"] and minted[0]["account_id"] in ("", None)
    )
    assert minted[0]["expires_at"] is not None
    cookies = json.dumps(context.cookies())
    assert "gmcpat_" not in cookies and "gmcpat_" not in page.content()

    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/console/login")
    assert not [t for t in _api_tokens(stack) if t["name"] == "console: alice@allowed.test"], "revoked"
    page.goto(f"{stack.admin}/console/accounts")
    assert page.url.endswith("/console/login")
    context.close()

    # bob's verified email is outside allowed.test; mallory's is inside but her provider does not
    # vouch for it. Neither gets a session or a token.
    for sub, label in (("bob", "bob@outside.test"), ("mallory", "mallory")):
        context = _context(browser, stack)
        page = context.new_page()
        _idp_sign_in(page, stack, sub)
        page.wait_for_selector("p.error")
        assert f"{label} is not allowed to use this console" in page.inner_text("p.error")
        assert "/console/oidc/callback" in page.url and page.locator("#token").count() == 1
        page.goto(f"{stack.admin}/console/accounts")
        assert page.url.endswith("/console/login")
        context.close()
    assert not [t for t in _api_tokens(stack) if t["name"].startswith("console: ")]


def test_a_replayed_or_foreign_callback_is_refused(identity_provider: str, stack: Stack) -> None:
    """The callback needs the state this browser started, with its binding cookie, once."""
    with httpx.Client(base_url=stack.admin, timeout=30, follow_redirects=False) as http:
        login = http.get("/console/login")
        nonce = login.text.split('name="login_nonce" value="', 1)[1].split('"', 1)[0]
        started = http.post("/console/oidc/start", data={"login_nonce": nonce})
        assert started.status_code == 200 and 'http-equiv="refresh"' in started.text
        at_provider = started.text.split('id="continue" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert at_provider.startswith(identity_provider + "/")
        assert "code_challenge_method=S256" in at_provider and "nonce=" in at_provider
        with httpx.Client(timeout=30, follow_redirects=False) as person:
            back = person.post(at_provider, data={"sub": "alice"})
        callback = back.headers["location"]
        assert callback.startswith(f"{stack.admin}/console/oidc/callback?")
        with httpx.Client(timeout=30, follow_redirects=False) as other_browser:  # no binding cookie
            foreign = other_browser.get(callback)
        assert foreign.status_code == 400 or foreign.status_code == 403
        assert "gmcp_console=" not in foreign.headers.get("set-cookie", "")
        replay = http.get(callback)  # the state was taken by the foreign attempt: single use
        assert replay.status_code == 400 and "unknown, used or expired" in replay.text
        assert "gmcp_console=" not in replay.headers.get("set-cookie", "")
        no_nonce = http.post("/console/oidc/start", data={})
        assert no_nonce.status_code == 403


def test_connect_a_gumloop_account_with_oauth_and_reconnect_it(browser: Any, stack: Stack) -> None:
    """Connect with OAuth -> the emulator's authorization -> the callback's page -> the account's
    console page; Gumloop refuses its refresh -> needs reconnection -> Reconnect restores it."""
    with httpx.Client(base_url=stack.admin, headers=stack.auth, timeout=30) as http:
        existing = http.get(f"/integrated-account/{stack.ready['account_id']}").json()
    emulator = existing["api_base_url"].split("/api/v1")[0]
    context = _context(browser, stack)
    page = context.new_page()
    _sign_in(page, stack)

    page.fill("#oauth_display_name", "Connected by OAuth")
    page.click("summary:has-text('Advanced: API base URLs') >> nth=1")
    page.fill("#oauth_api_base_url", existing["api_base_url"])
    page.fill("#oauth_stream_base_url", existing["stream_base_url"])
    page.click("button:has-text('Connect with OAuth')")
    # The emulator auto-approves and sends the browser to the admin port's callback, whose page
    # moves on to the account's console page.
    page.wait_for_url("**/console/accounts/*/mcp?notice=account-connected")
    assert "The account is connected." in page.content()
    assert "Connected by OAuth" in page.inner_text("h1")
    account_id = page.url.split("/console/accounts/", 1)[1].split("/", 1)[0]
    page.goto(f"{stack.admin}/console/accounts")
    row = page.locator("tr", has_text="Connected by OAuth")
    assert "Connected" in row.locator(".account-state").inner_text()
    assert row.locator("text=Reconnect").count() == 0

    # Gumloop ends the grant (a user disconnecting the app): the next call's refresh is refused.
    with httpx.Client(timeout=30) as http:
        assert http.post(emulator + "/__emulator/oauth/revoke-all").status_code == 200
        made = http.post(
            f"{stack.admin}/integrated-account/{account_id}/mcp", json={"name": "oauth"}, headers=stack.auth
        )
        assert made.status_code == 201, made.text
    assert _run(_teams_call_fails(made.json()["url"]))
    page.goto(f"{stack.admin}/console/accounts")
    row = page.locator("tr", has_text="Connected by OAuth")
    assert "Needs reconnection" in row.locator(".account-state").inner_text()
    _axe(page)
    _shot(page, "accounts-oauth")
    row.locator("button:has-text('Reconnect')").click()
    page.wait_for_url(f"**/console/accounts/{account_id}/mcp?notice=account-connected")
    assert "The account is connected." in page.content()
    assert not _run(_teams_call_fails(made.json()["url"]))
    page.goto(f"{stack.admin}/console/accounts")
    assert (
        "Connected"
        in page.locator("tr", has_text="Connected by OAuth").locator(".account-state").inner_text()
    )
    context.close()


def test_the_server_form_sets_who_may_connect_to_an_oauth_server(browser: Any, stack: Stack) -> None:
    """The allowed emails, domains and groups show only for the OAuth second factor, reach the
    server's config, show in the list, and are edited in place."""
    account_id = stack.ready["account_id"]
    context = _context(browser, stack)
    page = context.new_page()
    _sign_in(page, stack)
    page.goto(f"{stack.admin}/console/accounts/{account_id}/mcp/new")
    assert page.is_checked("input[name=second_factor][value=none]")
    assert not page.is_visible("#oauth-allowed")
    page.check("input[name=second_factor][value=oauth]")
    assert page.is_visible("#oauth-allowed")
    page.fill("#name", "Signed-in teams")
    page.check("input[name=method][value=read]")
    page.fill("#allow_emails", "Ada@Example.com\nbob@example.com")
    page.fill("#allow_domains", "allowed.test")
    page.fill("#allow_groups", "staff, ops")
    page.wait_for_selector("form[data-preview]:not([aria-busy])")
    _axe(page)
    _shot(page, "create-oauth")
    page.click("#submit")
    page.wait_for_selector("#mcp-url")

    with httpx.Client(base_url=stack.admin, headers=stack.auth, timeout=30) as http:
        listed = http.get(f"/integrated-account/{account_id}/mcp", params={"limit": "100"}).json()["result"]
    server = next(s for s in listed if s["name"] == "Signed-in teams")
    assert server["require_oauth"] is True and server["require_api_token_auth"] is False
    assert server["config"]["oauth_allowed_emails"] == ["ada@example.com", "bob@example.com"]
    assert server["config"]["oauth_allowed_domains"] == ["allowed.test"]
    assert server["config"]["oauth_allowed_groups"] == ["staff", "ops"]
    assert server["config"]["methods"] == ["read"]

    page.goto(f"{stack.admin}/console/accounts/{account_id}/mcp")
    row = page.locator("tr", has_text="Signed-in teams")
    assert "OAuth sign-in" in row.inner_text()
    assert "ada@example.com, bob@example.com, @allowed.test, group staff, group ops" in row.inner_text()
    row.locator("text=Edit").click()
    assert page.is_checked("input[name=second_factor][value=oauth]") and page.is_visible("#oauth-allowed")
    assert page.input_value("#allow_emails") == "ada@example.com\nbob@example.com"
    page.fill("#allow_emails", "")
    page.fill("#allow_groups", "platform")
    page.click("#submit")
    page.wait_for_selector("text=Changes saved.")
    assert page.input_value("#allow_groups") == "platform" and page.input_value("#allow_emails") == ""

    # Switching to the API-token factor hides the fields and leaves OAuth off.
    page.check("input[name=second_factor][value=api_token]")
    assert not page.is_visible("#oauth-allowed")
    page.click("#submit")
    page.wait_for_selector("text=Changes saved.")
    with httpx.Client(base_url=stack.admin, headers=stack.auth, timeout=30) as http:
        got = http.get(f"/integrated-account/{account_id}/mcp/{server['id']}").json()
    assert got["require_api_token_auth"] is True and got["require_oauth"] is False
    assert got["config"]["oauth_allowed_groups"] == ["platform"]  # kept, unused without OAuth
    context.close()
