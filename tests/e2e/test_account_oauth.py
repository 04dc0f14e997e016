"""A Gumloop account connected by OAuth through the management API, end to end against `up`'s stack:
start -> the emulator's authorization URL (auto-approved) -> the admin port's callback -> a tool call."""

from __future__ import annotations

from typing import Any

import httpx2

from .conftest import Stack
from .test_system import session, structured


async def _start_oauth_account(http: httpx2.AsyncClient, stack: Stack, display_name: str) -> dict[str, Any]:
    """POST /integrated-account/oauth/start for a new account on the stack's emulator hosts (201)."""
    existing = (
        await http.get(f"{stack.admin}/integrated-account/{stack.ready['account_id']}", headers=stack.auth)
    ).json()
    body = {
        "display_name": display_name,
        "api_base_url": existing["api_base_url"],
        "stream_base_url": existing["stream_base_url"],
    }
    started = await http.post(stack.admin + "/integrated-account/oauth/start", json=body, headers=stack.auth)
    assert started.status_code == 201, started.text
    out: dict[str, Any] = started.json()
    return out


async def test_an_account_connected_by_oauth_serves_tool_calls(stack: Stack) -> None:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        out = await _start_oauth_account(http, stack, "connected by OAuth")
        assert out["account"]["state"] == "pending_authorization"
        assert out["account"]["credential_kind"] == "oauth_connection"
        assert "code_challenge_method=S256" in out["authorization_url"]

        # The browser step: the emulator approves and sends the browser to the admin port's callback.
        approved = await http.get(out["authorization_url"])
        assert approved.status_code == 302, approved.text
        callback = approved.headers["location"]
        assert callback.startswith(stack.admin + "/integrated-account/oauth/callback?")
        done = await http.get(callback)  # no API token: the state authenticates it
        assert done.status_code == 200, done.text
        account = done.json()
        assert account["id"] == out["account"]["id"] and account["state"] == "active"
        assert account["access_token_expires_at"] is not None
        replay = await http.get(callback)  # single use
        assert replay.status_code == 400 and "state" in replay.text

        minted = await http.post(
            f"{stack.admin}/integrated-account/{account['id']}/mcp",
            json={"name": "oauth"},
            headers=stack.auth,
        )
        assert minted.status_code == 201, minted.text
    async with session(minted.json()["url"]) as client:
        teams = structured(await client.call_tool("list_all_gumloop_teams", {}))
    assert teams

    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        gone = await http.delete(f"{stack.admin}/integrated-account/{account['id']}", headers=stack.auth)
        assert gone.status_code == 204


async def test_the_callback_answers_a_browser_a_page_and_api_clients_json(stack: Stack) -> None:
    """Accept text/html (a browser from Gumloop's page): the connected account as HTML, with the
    console's security headers; the errors too. Accept */* keeps the JSON answer."""
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        started = await _start_oauth_account(http, stack, "Ada <b>& co</b>")
        callback = (await http.get(started["authorization_url"])).headers["location"]
        page = await http.get(callback, headers=browser)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Gumloop account connected" in page.text and "Ada &lt;b&gt;&amp; co&lt;/b&gt;" in page.text
        assert "<b>" not in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert 'http-equiv="refresh"' not in page.text  # not started by the console: stays here
        account_id = started["account"]["id"]
        assert f"/console/accounts/{account_id}/mcp" in page.text
        replay = await http.get(callback, headers=browser)
        assert replay.status_code == 400 and replay.headers["content-type"].startswith("text/html")
        assert "could not be connected" in replay.text and "state" in replay.text
        missing = await http.get(stack.admin + "/integrated-account/oauth/callback", headers=browser)
        assert missing.status_code == 400 and "state: is required" in missing.text
        as_api = await http.get(stack.admin + "/integrated-account/oauth/callback")
        assert as_api.status_code == 400 and as_api.json()["error"]["code"] == "invalid_argument"
        gone = await http.delete(f"{stack.admin}/integrated-account/{account_id}", headers=stack.auth)
        assert gone.status_code == 204
