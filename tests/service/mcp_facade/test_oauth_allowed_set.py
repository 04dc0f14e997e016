"""Two façade replicas on one Redis: a person the identity provider signed in loses access on both
within a second of their removal from the server's allowed set (the token service's UPDATED event
reaches each replica's resolver; each request checks the grant against the fresh config)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time

import aiohttp

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.mcp_facade.oauth.service import AuthorizationRequest, OAuthService, Person

from .conftest import Stack

BOTH = {"Accept": "application/json, text/event-stream"}
REDIRECT = "http://127.0.0.1:9/cb"
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


async def _oidc_access_token(service: OAuthService, server_id: str, person: Person) -> str:
    registered = await service.register_client(
        {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    )
    client = await service.client(registered["client_id"])
    assert client is not None
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    request = AuthorizationRequest(client, REDIRECT, None, challenge, "http://x/mcp/t", server_id, "acct_1")
    tokens = await service.exchange_code(
        client, await service.issue_code(request, person), REDIRECT, verifier, None
    )
    return tokens.access_token


async def test_removal_from_the_allowed_set_ends_access_on_every_replica(
    stack: Stack, clean_redis_url: str
) -> None:
    token = stack.tokens.add_server("mcp_oidc", require_oauth=True)
    record = stack.tokens.server_of(token)
    record.config.oauth_allowed_domains.append("example.com")
    record.config.oauth_allowed_groups.append("eng")
    one = await stack.make(store="redis", redis_url=clean_redis_url)
    two = await stack.make(store="redis", redis_url=clean_redis_url)
    service = one.facade.oauth.service
    ada = await _oidc_access_token(service, "mcp_oidc", Person("ada@example.com", "oidc", "ada@example.com"))
    bob = await _oidc_access_token(
        service, "mcp_oidc", Person("bob@other.org", "oidc", "bob@other.org", ("eng",))
    )
    # A connect-code grant names a person an operator chose: the allowed set does not apply to it.
    cc = await _oidc_access_token(service, "mcp_oidc", Person("cc@other.org", "connect_code"))
    urls = [f"http://127.0.0.1:{replica.public_port}/mcp/{token}" for replica in (one, two)]

    async with aiohttp.ClientSession() as http:

        async def status(url: str, access: str) -> int:
            headers = {**BOTH, "Authorization": f"Bearer {access}"}
            async with http.post(url, json=INIT, headers=headers) as resp:
                return resp.status

        for url in urls:
            assert [await status(url, t) for t in (ada, bob, cc)] == [200, 200, 200]

        del record.config.oauth_allowed_domains[:]  # ada's domain goes; bob's group stays
        await stack.tokens.emit(
            pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_UPDATED, mcp_server_id="mcp_oidc")
        )
        changed = time.monotonic()
        for url in urls:
            while (code := await status(url, ada)) == 200:
                assert time.monotonic() - changed < 1.0, f"{url} still served ada a second after the change"
                await asyncio.sleep(0.02)
            assert code == 401
        assert [await status(url, t) for url in urls for t in (bob, cc)] == [200, 200, 200, 200]
        assert {g.subject for g in await two.facade.oauth.service.grants("mcp_oidc")} == {
            "bob@other.org",
            "cc@other.org",
        }
