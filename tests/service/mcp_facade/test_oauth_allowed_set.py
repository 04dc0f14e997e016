"""Two façade replicas on one Redis: a person the identity provider signed in loses access on both
within a second of their removal from the server's allowed set (the token service's UPDATED event
reaches each replica's resolver; each request checks the grant against the fresh config), and the
streams they hold open end then too, with no request of theirs (each replica re-checks the grants
behind the changed server's open work)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
import time
from typing import Any

import aiohttp

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.mcp_facade.oauth.service import AuthorizationRequest, OAuthService, Person
from services.mcp_facade.server import FacadeServer

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


async def _two_replicas_with_ada_and_bob(
    stack: Stack, redis_url: str
) -> tuple[Any, FacadeServer, FacadeServer, str, str, list[str]]:
    """Server mcp_oidc (OAuth required; allowed: domain example.com, group eng), two façade replicas on
    one Redis, and access tokens of ada@example.com (by domain) and bob@other.org (by group): (the
    server's record, both replicas, ada's token, bob's, the server's URL on each replica)."""
    token = stack.tokens.add_server("mcp_oidc", require_oauth=True)
    record = stack.tokens.server_of(token)
    record.config.oauth_allowed_domains.append("example.com")
    record.config.oauth_allowed_groups.append("eng")
    one = await stack.make(store="redis", redis_url=redis_url)
    two = await stack.make(store="redis", redis_url=redis_url)
    service = one.facade.oauth.service
    ada = await _oidc_access_token(service, "mcp_oidc", Person("ada@example.com", "oidc", "ada@example.com"))
    bob = await _oidc_access_token(
        service, "mcp_oidc", Person("bob@other.org", "oidc", "bob@other.org", ("eng",))
    )
    urls = [f"http://127.0.0.1:{replica.public_port}/mcp/{token}" for replica in (one, two)]
    return record, one, two, ada, bob, urls


async def test_removal_from_the_allowed_set_ends_access_on_every_replica(
    stack: Stack, clean_redis_url: str
) -> None:
    record, one, two, ada, bob, urls = await _two_replicas_with_ada_and_bob(stack, clean_redis_url)
    # A connect-code grant names a person an operator chose: the allowed set does not apply to it.
    cc = await _oidc_access_token(
        one.facade.oauth.service, "mcp_oidc", Person("cc@other.org", "connect_code")
    )

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


async def test_removal_from_the_allowed_set_ends_open_streams_on_every_replica(
    stack: Stack, clean_redis_url: str
) -> None:
    """A GET stream stays open with no further request: the UPDATED event itself must end it."""
    record, one, two, ada, bob, urls = await _two_replicas_with_ada_and_bob(stack, clean_redis_url)
    init = {**INIT, "params": {**INIT["params"], "protocolVersion": "2025-11-25"}}  # type: ignore[dict-item]

    async with aiohttp.ClientSession() as http, contextlib.AsyncExitStack() as streams:

        async def open_stream(url: str, access: str) -> aiohttp.ClientResponse:
            headers = {**BOTH, "Authorization": f"Bearer {access}"}
            async with http.post(url, json=init, headers=headers) as resp:
                assert resp.status == 200
                session = resp.headers["Mcp-Session-Id"]
            get = {"Accept": "text/event-stream", "Authorization": f"Bearer {access}"}
            stream = await streams.enter_async_context(
                http.get(url, headers={**get, "Mcp-Session-Id": session})
            )
            assert stream.status == 200 and stream.content_type == "text/event-stream"
            return stream

        ada_streams = [await open_stream(url, ada) for url in urls]
        bob_streams = [await open_stream(url, bob) for url in urls]
        for replica in (one, two):
            assert replica.facade.live.count("mcp_oidc") == 2

        del record.config.oauth_allowed_domains[:]  # ada's domain goes; bob's group stays
        await stack.tokens.emit(
            pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_UPDATED, mcp_server_id="mcp_oidc")
        )
        changed = time.monotonic()
        for stream in ada_streams:
            await asyncio.wait_for(stream.content.read(), max(0.0, 1.0 - (time.monotonic() - changed)))
        assert time.monotonic() - changed < 1.0
        for stream in bob_streams:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.content.read(), 0.2)
                raise AssertionError("an allowed person's stream ended too")
        for replica in (one, two):
            assert replica.facade.live.count("mcp_oidc") == 1
        assert {g.subject for g in await two.facade.oauth.service.grants("mcp_oidc")} == {"bob@other.org"}
