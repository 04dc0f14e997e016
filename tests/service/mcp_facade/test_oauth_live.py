"""Revoking an OAuth grant cuts what was opened with it (session GET stream, in-flight call), like a
revoked API token; work opened by another person's grant on the same server goes on."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from typing import Any

import aiohttp

from services.mcp_facade.oauth import OAUTH_REVOKED_MESSAGE
from services.mcp_facade.oauth.service import AuthorizationRequest, OAuthService

from .conftest import Stack

BOTH = {"Accept": "application/json, text/event-stream"}
SSE = {"Accept": "text/event-stream"}
ENDS_WITHIN_S = 2.0
REDIRECT = "http://127.0.0.1:9/cb"


async def _access_token(service: OAuthService, server_id: str, subject: str) -> tuple[str, str]:
    """An access token of a new grant of `subject` on `server_id`, and the grant id."""
    registered = await service.register_client(
        {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    )
    client = await service.client(registered["client_id"])
    assert client is not None
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    person = await service.redeem_connect_code(
        await service.mint_connect_code(server_id, "acct_1", subject, 60), server_id
    )
    request = AuthorizationRequest(client, REDIRECT, None, challenge, "http://x/mcp/t", server_id, "acct_1")
    tokens = await service.exchange_code(
        client, await service.issue_code(request, person), REDIRECT, verifier, None
    )
    grant = await service.verify_access_token(tokens.access_token, server_id)
    assert grant is not None
    return tokens.access_token, grant.id


async def test_revoking_a_grant_ends_what_it_opened_and_leaves_another_persons_work(stack: Stack) -> None:
    token = stack.tokens.add_server("mcp_oauth", require_oauth=True)
    url = f"http://127.0.0.1:{stack.server.public_port}/mcp/{token}"
    service = stack.server.facade.oauth.service
    ada, ada_grant = await _access_token(service, "mcp_oauth", "ada")
    bob, _ = await _access_token(service, "mcp_oauth", "bob")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}, headers=BOTH
        ) as bare:
            assert bare.status == 401 and "resource_metadata=" in bare.headers["WWW-Authenticate"]
        sessions = {}
        for name, access in (("ada", ada), ("bob", bob)):
            body = {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25"},
            }
            async with http.post(
                url, json=body, headers={**BOTH, "Authorization": f"Bearer {access}"}
            ) as resp:
                assert resp.status == 200
                sessions[name] = resp.headers["Mcp-Session-Id"]
        ada_headers = {"Authorization": f"Bearer {ada}", "Mcp-Session-Id": sessions["ada"]}
        bob_headers = {"Authorization": f"Bearer {bob}", "Mcp-Session-Id": sessions["bob"]}
        wait = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "wait", "arguments": {"wait_seconds": 60}}}  # fmt: skip

        async def waiting_call() -> tuple[int, Any]:
            async with http.post(url, json=wait, headers={**BOTH, **ada_headers}) as resp:
                return resp.status, await resp.json()

        async with (
            http.get(url, headers={**SSE, **ada_headers}) as mine,
            http.get(url, headers={**SSE, **bob_headers}) as other,
        ):
            assert mine.status == other.status == 200
            call = asyncio.create_task(waiting_call())
            await asyncio.wait_for(stack.toolbox.started.wait(), 5)
            assert stack.server.facade.live.count("mcp_oauth") == 3
            await service.revoke_grant(ada_grant)
            status, reply = await asyncio.wait_for(call, ENDS_WITHIN_S)
            assert status == 404 and reply["error"]["message"] == OAUTH_REVOKED_MESSAGE
            await asyncio.wait_for(mine.content.read(), ENDS_WITHIN_S)
            try:
                await asyncio.wait_for(other.content.read(), 0.5)
            except TimeoutError:
                pass  # still open: bob's grant was not touched
            else:
                raise AssertionError("the other person's stream ended too")
        async with http.post(url, json=wait | {"id": 2}, headers={**BOTH, **ada_headers}) as refused:
            assert refused.status == 401
