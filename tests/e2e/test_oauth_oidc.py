"""End to end: consent to an OAuth MCP server by signing in at an OpenID Connect identity provider.

The identity provider is a real one, `oidc-provider-mock` (a separate process on 127.0.0.1, started
here with its users and their claims); the stack runs with GMCP_FACADE_OIDC_* pointing at it. The
person is played over HTTP: the consent page's "Sign in and allow", the provider's sign-in form
(choosing a user), the provider's redirect to the façade's callback, and the façade's redirect to
the client. Each server's config says who may consent (emails, domains, groups).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from .conftest import Stack, start_stack
from .test_oauth import (
    ACCOUNT_PATH,
    INIT,
    MCP_HEADERS,
    REDIRECT,
    Flow,
    MemoryStorage,
    _Form,
    _pkce,
    oauth_session,
    provider_with,
)

CLIENT_ID = "gumloop-mcp-e2e"
USERS = [
    {"sub": "alice", "email": "Alice@Allowed.Test", "email_verified": True, "groups": ["staff"]},
    {"sub": "bob", "email": "bob@outside.test", "email_verified": True, "groups": ["visitors"]},
    {"sub": "carol", "email": "carol@outside.test", "email_verified": True, "groups": ["eng"]},
    # Her provider does not vouch for the address: the domain rule must not admit her.
    {"sub": "mallory", "email": "mallory@allowed.test", "email_verified": False, "groups": []},
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def identity_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1 with USERS; its issuer URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("idp") / "idp.log"
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--require-nonce", "true"]
    for user in USERS:
        args += ["--user-claims", json.dumps(user)]
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"oidc-provider-mock did not start: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def stack(identity_provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "GMCP_FACADE_OIDC_ISSUER": identity_provider,
        "GMCP_FACADE_OIDC_CLIENT_ID": CLIENT_ID,
        "GMCP_FACADE_OIDC_CLIENT_SECRET": "e2e-client-secret",
    }
    with start_stack(Path(tmp_path_factory.mktemp("e2e-oidc")), env_extra=env) as running:
        yield running


@pytest.fixture
async def flow(stack: Stack) -> AsyncIterator[Flow]:
    origin = f"{urlsplit(stack.ready['mcp_url']).scheme}://{urlsplit(stack.ready['mcp_url']).netloc}"
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        yield await Flow.register(stack, http, origin)


async def admin(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        return await http.request(
            method,
            stack.admin + ACCOUNT_PATH.format(account=stack.ready["account_id"]) + path,
            json=body,
            headers=stack.auth,
        )


async def mint_server(stack: Stack, name: str, **allowed: list[str]) -> dict[str, Any]:
    config = {"methods": ["read"], **allowed}
    resp = await admin(stack, "POST", "", {"name": name, "require_oauth": True, "config": config})
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    for field, values in allowed.items():
        assert created["config"][field] == [
            v.lower() if field != "oauth_allowed_groups" else v for v in values
        ]
    return created


async def sign_in(authorization_url: str, sub: str) -> tuple[dict[str, list[str]], _Form]:
    """Be the person: allow on the consent page, sign in at the provider as `sub`; the query of
    the redirect back to the client, and the consent page read."""
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30), follow_redirects=False) as http:
        page = await http.get(authorization_url)
        assert page.status_code == 200, page.text
        assert "connect_code" not in page.text and "Sign in and allow" in page.text
        form = _Form()
        form.feed(page.text)
        allow = await http.post(
            str(page.url.copy_with(query=None)), data={**form.fields, "decision": "allow"}
        )
        assert allow.status_code == 303, allow.text
        at_provider = allow.headers["Location"]
        provider_query = parse_qs(urlsplit(at_provider).query)
        assert provider_query["code_challenge_method"] == ["S256"] and provider_query["nonce"]
        assert provider_query["client_id"] == [CLIENT_ID]
        signed_in = await http.post(at_provider, data={"sub": sub})
        assert signed_in.status_code in (302, 303), signed_in.text
        callback = signed_in.headers["Location"]
        assert callback.startswith(str(page.url.copy_with(path="/oauth/oidc/callback", query=None)))
        back = await http.get(callback)
    assert back.status_code == 303, back.text
    location = back.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query), form


async def tokens_for(flow: Flow, server: dict[str, Any], sub: str) -> dict[str, Any]:
    verifier, challenge = _pkce()
    query, _ = await sign_in(flow.authorize_url(server["url"], challenge), sub)
    assert "code" in query, query
    resp = await flow.exchange(query["code"][0], verifier, server["url"])
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def grants(stack: Stack, server_id: str) -> list[dict[str, Any]]:
    resp = await admin(stack, "GET", f"/{server_id}/oauth/grants")
    assert resp.status_code == 200, resp.text
    result: list[dict[str, Any]] = resp.json()["result"]
    return result


async def test_an_allowed_person_signs_in_with_the_official_client_and_gets_the_tools(stack: Stack) -> None:
    """The SDK's OAuth client: discovery, DCR, consent by identity-provider sign-in (allowed by
    email, compared lowercased), token, tools; the grant names the person's verified email."""

    server = await mint_server(stack, "oidc teams", oauth_allowed_emails=["alice@allowed.test"])
    pages: list[_Form] = []
    auth = provider_with(
        server["url"], MemoryStorage(), pages, "e2e oidc client", lambda location: sign_in(location, "alice")
    )
    async with oauth_session(auth, server["url"]) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names and len(pages) == 1
    assert any(name in label for label in pages[0].tools for name in names)
    (grant,) = await grants(stack, server["id"])
    assert (grant["subject"], grant["sign_in"], grant["groups"]) == ("alice@allowed.test", "oidc", ["staff"])
    # Connect codes are not how people get in here: minting one says what to do instead.
    refused = await admin(
        stack, "POST", f"/{server['id']}/oauth/connect-codes", {"subject": "x@allowed.test"}
    )
    assert refused.status_code == 409 and "oauth_allowed" in refused.text


async def test_a_person_outside_the_allowed_set_is_access_denied(stack: Stack, flow: Flow) -> None:
    """Not listed (bob), an unverified email at an allowed domain (mallory), and a server that
    allows nobody: each gets access_denied at the client's redirect URI, and no grant."""
    server = await mint_server(
        stack, "oidc domain", oauth_allowed_domains=["allowed.test"], oauth_allowed_groups=["eng"]
    )
    nobody = await mint_server(stack, "oidc nobody")
    for target, sub in ((server, "bob"), (server, "mallory"), (nobody, "alice")):
        _, challenge = _pkce()
        query, _ = await sign_in(flow.authorize_url(target["url"], challenge, state="st"), sub)
        assert query["error"] == ["access_denied"], (sub, query)
        assert "not allowed" in query["error_description"][0]
        assert query["state"] == ["st"] and query["iss"] == [flow.origin] and "code" not in query
    # Declining at the identity provider: its error comes back with the state, then access_denied
    # goes to the client. (oidc-provider-mock leaves the state out of its own decline redirect, so
    # the provider's answer is played here; without a state the callback can only show a page.)
    _, challenge = _pkce()
    page = await flow.http.get(flow.authorize_url(server["url"], challenge, state="st"))
    form = _Form()
    form.feed(page.text)
    allow = await flow.http.post(f"{flow.origin}/oauth/authorize", data={**form.fields, "decision": "allow"})
    state = parse_qs(urlsplit(allow.headers["Location"]).query)["state"][0]
    callback = f"{flow.origin}/oauth/oidc/callback"
    declined = await flow.http.get(callback, params={"error": "access_denied", "state": state})
    assert declined.status_code == 303, declined.text
    query = parse_qs(urlsplit(declined.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st"], query
    assert "did not complete" in query["error_description"][0]
    replay = await flow.http.get(callback, params={"error": "access_denied", "state": state})
    assert replay.status_code == 400 and "Location" not in replay.headers  # the state is spent
    assert await grants(stack, server["id"]) == [] and await grants(stack, nobody["id"]) == []
    # The domain admits alice, the group admits carol.
    assert "access_token" in await tokens_for(flow, server, "alice")
    assert "access_token" in await tokens_for(flow, server, "carol")


async def test_removing_a_person_from_the_allowed_set_cuts_their_access(stack: Stack, flow: Flow) -> None:
    """carol (by group) and alice (by email) connect; the config drops the group: carol's next
    request is refused within a second and her grant is gone, alice keeps working; then alice is
    dropped too and her refresh (with resource) is invalid_grant."""
    server = await mint_server(
        stack, "oidc cut", oauth_allowed_emails=["alice@allowed.test"], oauth_allowed_groups=["eng"]
    )
    carol = await tokens_for(flow, server, "carol")
    alice = await tokens_for(flow, server, "alice")
    assert await flow.mcp_status(server["url"], carol["access_token"]) == 200
    assert {g["subject"] for g in await grants(stack, server["id"])} == {
        "alice@allowed.test",
        "carol@outside.test",
    }

    patch = {"config": {"methods": ["read"], "oauth_allowed_emails": ["alice@allowed.test"]}}
    resp = await admin(stack, "PATCH", f"/{server['id']}", patch)
    assert resp.status_code == 200, resp.text
    assert resp.json()["config"]["oauth_allowed_groups"] == []
    changed = time.monotonic()
    while (status := await flow.mcp_status(server["url"], carol["access_token"])) == 200:
        assert time.monotonic() - changed < 1.0, "still served a second after the config change"
        time.sleep(0.05)
    assert status == 401
    assert [g["subject"] for g in await grants(stack, server["id"])] == ["alice@allowed.test"]
    refused = await flow.token(grant_type="refresh_token", refresh_token=carol["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert await flow.mcp_status(server["url"], alice["access_token"]) == 200

    resp = await admin(stack, "PATCH", f"/{server['id']}", {"config": {"methods": ["read"]}})
    assert resp.status_code == 200, resp.text
    changed = time.monotonic()
    while True:
        refreshed = await flow.token(
            grant_type="refresh_token", refresh_token=alice["refresh_token"], resource=server["url"]
        )
        if refreshed.status_code != 200:
            break
        assert time.monotonic() - changed < 1.0, "refresh still worked a second after the change"
        alice = refreshed.json()
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert "no longer allowed" in refreshed.json()["error_description"]
    assert await grants(stack, server["id"]) == []
    assert await flow.mcp_status(server["url"], alice["access_token"]) == 401


async def test_the_allowed_set_is_validated_and_the_callback_refuses_unknown_states(
    stack: Stack, flow: Flow
) -> None:
    """A malformed email or domain is a 400 naming the field; a callback whose state was never
    issued (or is replayed) is an error page, not a redirect."""
    bad = await admin(
        stack,
        "POST",
        "",
        {"name": "bad", "require_oauth": True, "config": {"oauth_allowed_domains": ["@allowed.test"]}},
    )
    assert bad.status_code == 400 and "oauth_allowed_domains" in bad.text
    resp = await flow.http.get(
        f"{flow.origin}/oauth/oidc/callback",
        params={"code": "x", "state": "never-issued"},
        follow_redirects=False,
    )
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert "expired" in resp.text
    # MCP requests with no token still get the discovery challenge on an OIDC stack.
    server = await mint_server(stack, "oidc bare", oauth_allowed_groups=["eng"])
    bare = await flow.http.post(server["url"], json=INIT, headers=MCP_HEADERS)
    assert bare.status_code == 401 and "resource_metadata=" in bare.headers["WWW-Authenticate"]
