"""A Gumloop account connected by OAuth through the management API, end to end against `up`'s stack:
start -> the emulator's authorization URL (auto-approved) -> the admin port's callback -> a tool call."""

from __future__ import annotations

from typing import Any

import httpx2

from .conftest import Stack
from .test_system import session, structured


async def test_an_account_connected_by_oauth_serves_tool_calls(stack: Stack) -> None:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        existing = (
            await http.get(
                f"{stack.admin}/integrated-account/{stack.ready['account_id']}", headers=stack.auth
            )
        ).json()
        body = {
            "display_name": "connected by OAuth",
            "api_base_url": existing["api_base_url"],
            "stream_base_url": existing["stream_base_url"],
        }
        started = await http.post(
            stack.admin + "/integrated-account/oauth/start", json=body, headers=stack.auth
        )
        assert started.status_code == 201, started.text
        out: dict[str, Any] = started.json()
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
