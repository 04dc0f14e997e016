"""The emulator's OAuth server driven by the official SDK's OAuth client (``gumloop.oauth``) on loopback.

The SDK's OAuth helpers are synchronous (httpx.post): they run on a worker thread while the emulator
serves on this loop.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from gumloop import Gumloop
from gumloop.errors import APIStatusError
from gumloop.oauth import OAuth

from gumloop_mcp.emulator import EmulatorSettings, RunningEmulator, start_emulator

from .conftest import FakeTime

REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
async def oauth_emulator(fake_time: FakeTime) -> Any:
    """The emulator with 60 s access tokens on the fake clock."""
    settings = EmulatorSettings(host="127.0.0.1", port=0, oauth_access_token_ttl_s=60)
    async with await start_emulator(settings, clock=fake_time) as running:
        yield running


async def _authorize(emulator: RunningEmulator, url: str) -> dict[str, list[str]]:
    """Follow the authorization URL; the emulator approves and redirects back: the callback's query."""
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def _connect(emulator: RunningEmulator) -> tuple[OAuth, str, dict[str, Any]]:
    oauth = OAuth(base_url=emulator.api_base_url, timeout=10)  # the SDK strips /api/v1 itself
    client = await asyncio.to_thread(oauth.register_client, REDIRECT, client_name="test client")
    client_id = client["client_id"]
    url, verifier, state = oauth.build_authorization_url(client_id, REDIRECT)
    query = await _authorize(emulator, url)
    assert query["state"] == [state]
    tokens = await asyncio.to_thread(oauth.exchange_code, client_id, query["code"][0], REDIRECT, verifier)
    return oauth, client_id, tokens


def _list_agents(emulator: RunningEmulator, token: str) -> Any:
    client = Gumloop(access_token=token, base_url=emulator.api_base_url)
    try:
        return client.agents.list()
    finally:
        client.close()


async def test_sdk_oauth_flow_issues_tokens_the_api_accepts_until_they_expire(
    oauth_emulator: RunningEmulator, fake_time: FakeTime
) -> None:
    oauth, client_id, tokens = await _connect(oauth_emulator)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 60
    assert tokens["scope"] == "gumloop userinfo"
    agents = await asyncio.to_thread(_list_agents, oauth_emulator, tokens["access_token"])
    assert agents is not None

    fake_time.now += 61
    with pytest.raises(APIStatusError) as expired:
        await asyncio.to_thread(_list_agents, oauth_emulator, tokens["access_token"])
    assert expired.value.status_code == 401 and "expired" in str(expired.value)

    fresh = await asyncio.to_thread(oauth.refresh_token, client_id, tokens["refresh_token"])
    assert fresh["access_token"] != tokens["access_token"]
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert await asyncio.to_thread(_list_agents, oauth_emulator, fresh["access_token"]) is not None

    # The refresh token rotated: the old one is refused.
    with pytest.raises(APIStatusError) as reused:
        await asyncio.to_thread(oauth.refresh_token, client_id, tokens["refresh_token"])
    assert reused.value.status_code == 400 and "invalid" in str(reused.value)

    async with httpx.AsyncClient() as http:
        summary = (await http.get(oauth_emulator.base_url + "/__emulator/oauth")).json()
    assert summary["stats"]["refreshes"] == 1 and summary["stats"]["refused_refreshes"] == 1


async def test_sdk_revoke_ends_the_grant(oauth_emulator: RunningEmulator) -> None:
    oauth, client_id, tokens = await _connect(oauth_emulator)
    await asyncio.to_thread(oauth.revoke, client_id, tokens["refresh_token"])
    with pytest.raises(APIStatusError) as revoked:
        await asyncio.to_thread(_list_agents, oauth_emulator, tokens["access_token"])
    assert revoked.value.status_code == 401 and "revoked" in str(revoked.value)
    with pytest.raises(APIStatusError):
        await asyncio.to_thread(oauth.refresh_token, client_id, tokens["refresh_token"])
    # Revoking again (or an unknown token) is not an error (RFC 7009).
    await asyncio.to_thread(oauth.revoke, client_id, "not-a-token")


async def test_pkce_mismatch_and_code_reuse_are_refused(oauth_emulator: RunningEmulator) -> None:
    oauth = OAuth(base_url=oauth_emulator.base_url, timeout=10)
    client_id = (await asyncio.to_thread(oauth.register_client, REDIRECT))["client_id"]
    url, verifier, _ = oauth.build_authorization_url(client_id, REDIRECT)
    code = (await _authorize(oauth_emulator, url))["code"][0]
    with pytest.raises(APIStatusError) as mismatch:
        await asyncio.to_thread(oauth.exchange_code, client_id, code, REDIRECT, "x" * 64)
    assert mismatch.value.status_code == 400 and "code_verifier" in str(mismatch.value)
    # A code is single use, even after a refused exchange.
    with pytest.raises(APIStatusError):
        await asyncio.to_thread(oauth.exchange_code, client_id, code, REDIRECT, verifier)


async def test_authorize_refuses_unregistered_redirects_on_the_page_and_denials_redirect(
    fake_time: FakeTime,
) -> None:
    settings = EmulatorSettings(host="127.0.0.1", port=0, oauth_auto_approve=False)
    async with await start_emulator(settings, clock=fake_time) as emulator:
        oauth = OAuth(base_url=emulator.base_url, timeout=10)
        client_id = (await asyncio.to_thread(oauth.register_client, REDIRECT))["client_id"]
        bad, _, _ = oauth.build_authorization_url(client_id, "http://127.0.0.1:9/elsewhere")
        url, verifier, state = oauth.build_authorization_url(client_id, REDIRECT)
        async with httpx.AsyncClient() as http:
            refused = await http.get(bad)
            assert refused.status_code == 400 and "redirect_uri" in refused.text
            consent = await http.get(url)
            assert consent.status_code == 200 and "Allow test" not in consent.text
            assert "Gumloop Python SDK" in consent.text
            form = dict(parse_qs(urlsplit(url).query, keep_blank_values=True))
            fields = {k: v[0] for k, v in form.items()}
            denied = await http.post(
                emulator.base_url + "/oauth/authorize", data={**fields, "decision": "deny"}
            )
            assert denied.status_code == 302
            assert parse_qs(urlsplit(denied.headers["location"]).query) == {
                "error": ["access_denied"],
                "state": [state],
            }
            allowed = await http.post(
                emulator.base_url + "/oauth/authorize", data={**fields, "decision": "allow"}
            )
            code = parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]
        tokens = await asyncio.to_thread(oauth.exchange_code, client_id, code, REDIRECT, verifier)
        assert tokens["access_token"].startswith("glat_")
