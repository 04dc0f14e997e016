"""End to end: an MCP server with `require_oauth`, signed into by the official MCP SDK's OAuth client.

The stack is `gumloop-mcp up` on loopback. The person's part (the consent page) is played by the
test's redirect handler: it opens the authorization URL, fills in the connect code an operator minted
through the management API, and hands the redirect's code to the SDK's callback handler. The negative
cases talk to the endpoints directly.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from .conftest import Stack

ACCOUNT_PATH = "/integrated-account/{account}/mcp"
REDIRECT = "http://127.0.0.1:9/callback"  # loopback: never contacted, the test reads the Location
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class _Form(HTMLParser):
    """The consent form's fields, and the page's tool list."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.tools: list[str] = []
        self._in_tools = False
        self._in_item = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden":
            self.fields[str(values["name"])] = str(values.get("value") or "")
        if tag == "ul" and values.get("id") == "tools":
            self._in_tools = True
        self._in_item = self._in_tools and tag == "li"

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul":
            self._in_tools = False

    def handle_data(self, data: str) -> None:
        if self._in_item:
            self.tools.append(data)
            self._in_item = False


async def consent(url: str, connect_code: str, decision: str = "allow") -> tuple[dict[str, list[str]], _Form]:
    """Open the consent page at `url`, answer it; the redirect's query and the page read."""
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        page = await http.get(url)
        assert page.status_code == 200, page.text
        assert page.headers["X-Frame-Options"] == "DENY"
        form = _Form()
        form.feed(page.text)
        answer = await http.post(
            str(page.url.copy_with(query=None)),
            data={**form.fields, "connect_code": connect_code, "decision": decision},
        )
    assert answer.status_code == 303, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query), form


async def admin(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        return await http.request(
            method,
            stack.admin + ACCOUNT_PATH.format(account=stack.ready["account_id"]) + path,
            json=body,
            headers=stack.auth,
        )


async def mint_server(stack: Stack, name: str, **fields: Any) -> dict[str, Any]:
    resp = await admin(stack, "POST", "", {"name": name, "require_oauth": True, **fields})
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    assert created["require_oauth"] is True and created["require_api_token_auth"] is False
    return created


async def connect_code(stack: Stack, server_id: str, subject: str) -> str:
    resp = await admin(stack, "POST", f"/{server_id}/oauth/connect-codes", {"subject": subject})
    assert resp.status_code == 201, resp.text
    assert resp.json()["subject"] == subject and resp.json()["mcp_server_id"] == server_id
    return str(resp.json()["code"])


async def grants(stack: Stack, server_id: str) -> list[dict[str, Any]]:
    resp = await admin(stack, "GET", f"/{server_id}/oauth/grants")
    assert resp.status_code == 200, resp.text
    result: list[dict[str, Any]] = resp.json()["result"]
    return result


def provider(url: str, code: str, storage: MemoryStorage, pages: list[_Form]) -> OAuthClientProvider:
    """The SDK's OAuth client; the redirect handler plays the person with `code`."""
    return provider_with(url, storage, pages, "e2e client", lambda location: consent(location, code))


def provider_with(
    url: str,
    storage: MemoryStorage,
    pages: list[_Form],
    client_name: str,
    person: Callable[[str], Awaitable[tuple[dict[str, list[str]], _Form]]],
) -> OAuthClientProvider:
    """The SDK's OAuth client whose redirect handler lets `person` answer the authorization URL (the
    redirect's query and the consent form it saw)."""
    answers: list[AuthorizationCodeResult] = []

    async def redirect_handler(authorization_url: str) -> None:
        query, form = await person(authorization_url)
        pages.append(form)
        answers.append(
            AuthorizationCodeResult(code=query["code"][0], state=query["state"][0], iss=query["iss"][0])
        )

    async def callback_handler() -> AuthorizationCodeResult:
        return answers.pop()

    metadata = OAuthClientMetadata(
        client_name=client_name,
        redirect_uris=[REDIRECT],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(url, metadata, storage, redirect_handler, callback_handler)


@asynccontextmanager
async def oauth_session(auth: OAuthClientProvider, url: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(60)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


async def test_the_official_client_signs_in_calls_tools_refreshes_and_is_cut_off(stack: Stack) -> None:
    """Discovery from the 401, DCR, consent with a connect code, PKCE, token, tools, refresh; the grant
    is listed with its subject; revoking it in the management API ends access at the next request."""
    server = await mint_server(stack, "oauth teams", config={"methods": ["read"]})
    url = server["url"]
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10)) as http:
        bare = await http.post(url, json=INIT, headers=MCP_HEADERS)
    assert bare.status_code == 401
    challenge = bare.headers["WWW-Authenticate"]
    origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    token = urlsplit(url).path.rsplit("/", 1)[1]
    assert f'resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp/{token}"' in challenge

    storage, pages = MemoryStorage(), []
    code = await connect_code(stack, server["id"], "ada@example.com")
    auth = provider(url, code, storage, pages)
    async with oauth_session(auth, url) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "list_all_gumloop_teams" in names and not any(n.startswith("create_") for n in names)
        teams = await client.call_tool("list_all_gumloop_teams", {})
        assert not teams.is_error and teams.structured_content
    # The consent page lists the tools the client will get (the first ones, then "… and N more").
    assert len(pages) == 1
    shown = [re.match(r"([a-z0-9_]+)( — .+)?$", t) for t in pages[0].tools if not t.startswith("…")]
    shown_names = {m.group(1) for m in shown if m}
    more = [int(m.group(1)) for t in pages[0].tools if (m := re.match(r"… and (\d+) more", t))]
    assert shown_names and shown_names <= names
    assert len(shown_names) + sum(more) == len(names)
    assert storage.client is not None and storage.client.client_id.startswith("gmcpoc_")
    first = storage.tokens
    assert first is not None and first.refresh_token and first.access_token.startswith("gmcpoa_")

    listed = await grants(stack, server["id"])
    assert [(g["subject"], g["client_name"], g["client_id"]) for g in listed] == [
        ("ada@example.com", "e2e client", storage.client.client_id)
    ]

    # Refresh: the stored access token is taken as expired, so the SDK refreshes before the request.
    auth.context.token_expiry_time = 1.0  # 1970: long past
    async with oauth_session(auth, url) as client:
        assert (await client.list_tools()).tools
    second = storage.tokens
    assert second is not None and second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert len(pages) == 1  # no second consent

    resp = await admin(stack, "DELETE", f"/{server['id']}/oauth/grants/{listed[0]['id']}")
    assert resp.status_code == 204
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10)) as http:
        cut = await http.post(
            url, json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {second.access_token}"}
        )
    assert cut.status_code == 401 and 'error="invalid_token"' in cut.headers["WWW-Authenticate"]
    assert await grants(stack, server["id"]) == []
    logs = stack.logs()
    for secret in (code, first.access_token, second.access_token, str(second.refresh_token)):
        assert secret not in logs


# -- the protocol pieces, driven directly ------------------------------------------------------------


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Flow:
    """A registered client of the stack's authorization server."""

    def __init__(self, stack: Stack, http: httpx2.AsyncClient, origin: str, client_id: str) -> None:
        self.stack, self.http, self.origin, self.client_id = stack, http, origin, client_id

    @classmethod
    async def register(cls, stack: Stack, http: httpx2.AsyncClient, origin: str) -> Flow:
        resp = await http.post(
            f"{origin}/oauth/register",
            json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "client_name": "direct"},
        )
        assert resp.status_code == 201, resp.text
        return cls(stack, http, origin, resp.json()["client_id"])

    def authorize_url(self, resource: str, challenge: str, state: str = "s1") -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": resource,
        }
        return str(httpx2.URL(f"{self.origin}/oauth/authorize", params=query))

    async def code(self, server: dict[str, Any]) -> tuple[str, str]:
        """An authorization code for `server` (consented with a fresh connect code) and its verifier."""
        verifier, challenge = _pkce()
        query, _ = await consent(
            self.authorize_url(server["url"], challenge), await connect_code(self.stack, server["id"], "bob")
        )
        assert query["state"] == ["s1"] and query["iss"] == [self.origin]
        return query["code"][0], verifier

    async def token(self, **form: str) -> httpx2.Response:
        return await self.http.post(f"{self.origin}/oauth/token", data={"client_id": self.client_id, **form})

    async def exchange(self, code: str, verifier: str, resource: str) -> httpx2.Response:
        return await self.token(
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=verifier,
            resource=resource,
        )

    async def tokens(self, server: dict[str, Any]) -> dict[str, Any]:
        code, verifier = await self.code(server)
        resp = await self.exchange(code, verifier, server["url"])
        assert resp.status_code == 200, resp.text
        assert resp.headers["Cache-Control"] == "no-store"
        body: dict[str, Any] = resp.json()
        return body

    async def mcp_status(self, url: str, access_token: str) -> int:
        resp = await self.http.post(
            url, json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {access_token}"}
        )
        return resp.status_code


@pytest.fixture
async def flow(stack: Stack) -> AsyncIterator[Flow]:
    origin = re.match(r"https?://[^/]+", stack.ready["mcp_url"])
    assert origin is not None
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        yield await Flow.register(stack, http, origin.group(0))


async def test_metadata_documents_name_the_server_and_its_endpoints(stack: Stack, flow: Flow) -> None:
    """RFC 9728 for an OAuth server's URL (404 for one without OAuth) and RFC 8414 with S256 only."""
    server = await mint_server(stack, "meta")
    token = urlsplit(server["url"]).path.rsplit("/", 1)[1]
    prm = await flow.http.get(f"{flow.origin}/.well-known/oauth-protected-resource/mcp/{token}")
    assert prm.status_code == 200
    assert prm.json()["resource"] == server["url"] and prm.json()["authorization_servers"] == [flow.origin]
    plain = urlsplit(stack.ready["mcp_url"]).path.rsplit("/", 1)[1]
    assert (
        await flow.http.get(f"{flow.origin}/.well-known/oauth-protected-resource/mcp/{plain}")
    ).status_code == 404
    asm = (await flow.http.get(f"{flow.origin}/.well-known/oauth-authorization-server")).json()
    assert asm["issuer"] == flow.origin and asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["registration_endpoint"] == f"{flow.origin}/oauth/register"
    assert asm["revocation_endpoint"] == f"{flow.origin}/oauth/revoke"


async def test_a_redirect_uri_off_the_allow_list_cannot_register(stack: Stack, flow: Flow) -> None:
    """DCR refuses https://evil.example/cb; Claude's callbacks and loopback pass."""
    bad = await flow.http.post(
        f"{flow.origin}/oauth/register", json={"redirect_uris": ["https://evil.example/cb"]}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_redirect_uri"
    good = await flow.http.post(
        f"{flow.origin}/oauth/register",
        json={
            "redirect_uris": [
                "https://claude.ai/api/mcp/auth_callback",
                "https://claude.com/api/mcp/auth_callback",
            ]
        },
    )
    assert good.status_code == 201 and good.json()["client_secret"]  # default: client_secret_basic


async def test_a_wrong_resource_is_refused_at_authorize_and_at_token(stack: Stack, flow: Flow) -> None:
    """A server without OAuth as the resource: error=invalid_target to the redirect URI; a code for
    server A exchanged naming server B: invalid_target."""
    verifier, challenge = _pkce()
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        resp = await http.get(flow.authorize_url(stack.ready["mcp_url"], challenge))
    assert resp.status_code == 303
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == ["invalid_target"]
    a, b = await mint_server(stack, "A"), await mint_server(stack, "B")
    code, verifier = await flow.code(a)
    refused = await flow.exchange(code, verifier, b["url"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"


async def test_a_token_for_server_a_is_refused_at_server_b(stack: Stack, flow: Flow) -> None:
    a, b = await mint_server(stack, "A2"), await mint_server(stack, "B2")
    tokens = await flow.tokens(a)
    assert await flow.mcp_status(a["url"], tokens["access_token"]) == 200
    assert await flow.mcp_status(b["url"], tokens["access_token"]) == 401


async def test_a_reused_code_fails_and_revokes_what_the_first_use_got(stack: Stack, flow: Flow) -> None:
    server = await mint_server(stack, "reuse code")
    code, verifier = await flow.code(server)
    first = await flow.exchange(code, verifier, server["url"])
    assert first.status_code == 200
    again = await flow.exchange(code, verifier, server["url"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert await flow.mcp_status(server["url"], first.json()["access_token"]) == 401


async def test_a_pkce_mismatch_is_invalid_grant(stack: Stack, flow: Flow) -> None:
    server = await mint_server(stack, "pkce")
    code, _ = await flow.code(server)
    resp = await flow.exchange(code, secrets.token_urlsafe(48), server["url"])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert "PKCE" in resp.json()["error_description"]


async def test_a_reused_refresh_token_revokes_the_whole_grant(stack: Stack, flow: Flow) -> None:
    """Refresh rotates; replaying the old refresh token fails and kills the new tokens too."""
    server = await mint_server(stack, "reuse refresh")
    tokens = await flow.tokens(server)
    rotated = await flow.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != tokens["refresh_token"]
    assert await flow.mcp_status(server["url"], rotated.json()["access_token"]) == 200
    replay = await flow.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await flow.mcp_status(server["url"], rotated.json()["access_token"]) == 401
    newest = await flow.token(grant_type="refresh_token", refresh_token=rotated.json()["refresh_token"])
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"
    assert await grants(stack, server["id"]) == []


async def test_revocation_endpoint_and_deleted_server_end_access(stack: Stack, flow: Flow) -> None:
    """RFC 7009 revoke of the refresh token ends the grant; a deleted server's URL is 404."""
    server = await mint_server(stack, "revoke")
    tokens = await flow.tokens(server)
    resp = await flow.http.post(
        f"{flow.origin}/oauth/revoke", data={"client_id": flow.client_id, "token": tokens["refresh_token"]}
    )
    assert resp.status_code == 200
    assert await flow.mcp_status(server["url"], tokens["access_token"]) == 401
    refresh = await flow.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refresh.status_code == 400
    other = await mint_server(stack, "deleted")
    live = await flow.tokens(other)
    assert (await admin(stack, "DELETE", f"/{other['id']}")).status_code == 204
    assert await flow.mcp_status(other["url"], live["access_token"]) == 404


async def test_a_wrong_or_foreign_connect_code_is_access_denied(stack: Stack, flow: Flow) -> None:
    """A code minted for another server, a made-up code, and a used code all answer access_denied."""
    server, other = await mint_server(stack, "codes"), await mint_server(stack, "codes other")
    _, challenge = _pkce()
    foreign = await connect_code(stack, other["id"], "eve")
    for attempt in (foreign, "gmcpcc_" + secrets.token_urlsafe(32)):
        query, _ = await consent(flow.authorize_url(server["url"], challenge), attempt)
        assert query["error"] == ["access_denied"] and query["state"] == ["s1"]
    mine = await connect_code(stack, server["id"], "bob")
    assert "code" in (await consent(flow.authorize_url(server["url"], challenge), mine))[0]
    assert (await consent(flow.authorize_url(server["url"], challenge), mine))[0]["error"] == [
        "access_denied"
    ]
    denied, _ = await consent(flow.authorize_url(server["url"], challenge), "", decision="deny")
    assert denied["error"] == ["access_denied"]


async def test_management_refuses_both_second_factors_and_oauth_routes_on_plain_servers(stack: Stack) -> None:
    both = await admin(
        stack, "POST", "", {"name": "both", "require_oauth": True, "require_api_token_auth": True}
    )
    assert both.status_code == 400
    plain = await admin(stack, "POST", "", {"name": "plain"})
    resp = await admin(stack, "POST", f"/{plain.json()['id']}/oauth/connect-codes", {"subject": "x"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "failed_precondition"
    switched = await admin(stack, "PATCH", f"/{plain.json()['id']}", {"require_api_token_auth": True})
    assert switched.json()["require_api_token_auth"] is True
    switched = await admin(stack, "PATCH", f"/{plain.json()['id']}", {"require_oauth": True})
    assert switched.json()["require_oauth"] is True and switched.json()["require_api_token_auth"] is False
