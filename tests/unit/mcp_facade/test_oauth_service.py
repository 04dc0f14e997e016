"""The OAuth authorization server's rules (services/mcp_facade/oauth), without HTTP.

Expiry of access tokens and grants, the redirect allow-list, secrets never stored as given, and the
Redis store shared by two replicas (a revocation on one holds on the other at once).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets

import pytest
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidGrantError

from gumloop_mcp.runtime import redact
from services.mcp_facade.oauth.redirects import CLAUDE_CALLBACKS, RedirectPolicy
from services.mcp_facade.oauth.service import AuthorizationRequest, OAuthService, TokenSet
from services.mcp_facade.oauth.store import GrantStore, MemoryGrantStore
from services.mcp_facade.oauth.store_redis import RedisGrantStore

RESOURCE = "https://mcp.example.com/mcp/gmcp_x"
REDIRECT = "http://127.0.0.1:8765/cb"


def _service(
    store: GrantStore | None = None, *, access_ttl_s: float = 60.0, refresh_ttl_s: float = 600.0
) -> OAuthService:
    return OAuthService(
        store or MemoryGrantStore(),
        RedirectPolicy(CLAUDE_CALLBACKS),
        access_ttl_s=access_ttl_s,
        refresh_ttl_s=refresh_ttl_s,
    )


async def _tokens(service: OAuthService, server_id: str = "mcp_a") -> tuple[TokenSet, str]:
    """Register a public client, consent with a connect code, redeem the code; tokens and client id."""
    registered = await service.register_client(
        {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    )
    client = await service.client(registered["client_id"])
    assert client is not None
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    connect = await service.mint_connect_code(server_id, "acct", "ada@example.com", 60)
    person = await service.redeem_connect_code(connect, server_id)
    request = AuthorizationRequest(client, REDIRECT, "s", challenge, RESOURCE, server_id, "acct")
    code = await service.issue_code(request, person)
    return await service.exchange_code(client, code, REDIRECT, verifier, RESOURCE), client.client_id


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        (CLAUDE_CALLBACKS[0], True),
        (CLAUDE_CALLBACKS[1], True),
        ("http://127.0.0.1:33418/callback", True),
        ("http://localhost/cb", True),
        ("http://[::1]:9/cb", True),
        ("https://claude.ai/api/mcp/auth_callback/extra", False),
        ("https://evil.example/cb", False),
        ("http://10.0.0.1/cb", False),
        ("http://127.0.0.1:1/cb#frag", False),
        ("http://user@127.0.0.1/cb", False),
        ("http://127.0.0.1:99999/cb", False),
    ],
)
def test_redirect_policy(uri: str, allowed: bool) -> None:
    assert RedirectPolicy(CLAUDE_CALLBACKS).allowed(uri) is allowed


async def test_an_access_token_stops_at_its_expiry_and_refresh_still_works() -> None:
    service = _service(access_ttl_s=0.05)
    tokens, client_id = await _tokens(service)
    assert await service.verify_access_token(tokens.access_token, "mcp_a") is not None
    await asyncio.sleep(0.1)
    assert await service.verify_access_token(tokens.access_token, "mcp_a") is None
    client = await service.client(client_id)
    assert client is not None
    renewed = await service.refresh(client, tokens.refresh_token, RESOURCE)
    assert await service.verify_access_token(renewed.access_token, "mcp_a") is not None


async def test_an_expired_grant_refuses_refresh() -> None:
    service = _service(refresh_ttl_s=0.05)
    tokens, client_id = await _tokens(service)
    await asyncio.sleep(0.1)
    client = await service.client(client_id)
    assert client is not None
    with pytest.raises(InvalidGrantError):
        await service.refresh(client, tokens.refresh_token, RESOURCE)
    assert await service.grants("mcp_a") == []


class _RevokedAfterRead(MemoryGrantStore):
    """Another replica revokes the grant just after this one has read it (the race, made certain)."""

    armed = False

    async def get(self, key: str) -> dict[str, object] | None:
        record = await super().get(key)
        if self.armed and key.startswith("grant:"):
            self.armed = False
            await self.delete(key)
        return record


async def test_a_refresh_racing_a_revocation_never_revives_the_grant() -> None:
    store = _RevokedAfterRead()
    service = _service(store)
    tokens, client_id = await _tokens(service)
    client = await service.client(client_id)
    assert client is not None
    store.armed = True
    with pytest.raises(InvalidGrantError):
        await service.refresh(client, tokens.refresh_token, RESOURCE)
    assert await service.grants("mcp_a") == []
    assert await service.verify_access_token(tokens.access_token, "mcp_a") is None


async def test_touching_a_grant_racing_a_revocation_never_revives_it() -> None:
    store = _RevokedAfterRead()
    service = _service(store)
    tokens, _ = await _tokens(service)
    (grant,) = await service.grants("mcp_a")
    # Make the grant due for its last-used touch, then revoke it between the read and the touch.
    stale = {**grant.record(), "last_used_at": grant.last_used_at - 3600}
    await store.put(f"grant:{grant.id}", stale, 600)
    store.armed = True
    assert await service.verify_access_token(tokens.access_token, "mcp_a") is None
    assert await store.get(f"grant:{grant.id}") is None


async def test_a_connect_code_works_once_and_only_for_its_server() -> None:
    service = _service()
    code = await service.mint_connect_code("mcp_a", "acct", "bob", 60)
    with pytest.raises(AccessDeniedError):
        await service.redeem_connect_code(code, "mcp_b")
    # The wrong server spent it too: a code is one attempt.
    with pytest.raises(AccessDeniedError):
        await service.redeem_connect_code(code, "mcp_a")


async def test_no_secret_is_stored_as_given() -> None:
    store = MemoryGrantStore()
    service = _service(store)
    tokens, _ = await _tokens(service)
    confidential = await service.register_client({"redirect_uris": [CLAUDE_CALLBACKS[0]]})
    dump = repr(store._records)
    for secret in (tokens.access_token, tokens.refresh_token, confidential["client_secret"], RESOURCE):
        assert secret not in dump


async def test_two_replicas_on_redis_share_grants_and_revocations(redis_url: str) -> None:
    """Replica A issues, replica B verifies; B revokes, A refuses at once; a refresh token races once."""
    prefix = f"t{secrets.token_hex(4)}:oauth:"
    one, two = RedisGrantStore(redis_url, prefix), RedisGrantStore(redis_url, prefix)
    a, b = _service(one), _service(two)
    try:
        tokens, client_id = await _tokens(a)
        grant = await b.verify_access_token(tokens.access_token, "mcp_a")
        assert grant is not None and grant.subject == "ada@example.com"
        assert await b.verify_access_token(tokens.access_token, "mcp_other") is None
        client = await b.client(client_id)
        assert client is not None
        results = await asyncio.gather(
            a.refresh(client, tokens.refresh_token, None),
            b.refresh(client, tokens.refresh_token, None),
            return_exceptions=True,
        )
        # One claims the token; the other's attempt is a reuse, which revokes the whole grant. The
        # claimant either finishes first (its new tokens then die with the grant) or finds the
        # grant revoked under it and is refused too: never does a renewal outlive the revocation.
        assert all(isinstance(r, TokenSet | InvalidGrantError) for r in results), results
        assert sum(isinstance(r, InvalidGrantError) for r in results) >= 1
        for issued in (r for r in results if isinstance(r, TokenSet)):
            assert await a.verify_access_token(issued.access_token, "mcp_a") is None
            with pytest.raises(InvalidGrantError):
                await b.refresh(client, issued.refresh_token, None)
        assert await a.grants("mcp_a") == []

        again, _ = await _tokens(a)
        listed = await b.grants("mcp_a")
        assert [g.subject for g in listed] == ["ada@example.com"]
        await b.revoke_grant(listed[0].id)
        assert await a.verify_access_token(again.access_token, "mcp_a") is None
    finally:
        await one.close()
        await two.close()


async def test_the_log_filter_redacts_every_oauth_secret_whole() -> None:
    service = _service()
    tokens, _ = await _tokens(service)
    connect = await service.mint_connect_code("mcp_a", "acct", "x", 60)
    secret = (await service.register_client({"redirect_uris": [CLAUDE_CALLBACKS[0]]}))["client_secret"]
    for value in (tokens.access_token, tokens.refresh_token, connect, secret):
        line = redact(f"saw {value}, then more")
        assert value not in line and value[8:] not in line and line == "saw [REDACTED], then more"
