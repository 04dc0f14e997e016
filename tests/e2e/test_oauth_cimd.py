"""End to end: a client that names itself by the URL of its Client ID Metadata Document.

No registration: the client_id is the document's URL, served by an aiohttp server on 127.0.0.1 in
the test (the stack runs with GMCP_FACADE_OAUTH_CIMD_ALLOW_LOOPBACK_HTTP, the test/dev setting that
admits loopback http URLs). The official MCP client supports CIMD only over https, so the flow is
driven directly: metadata, authorize (consent with a connect code), token, tools, refresh.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from aiohttp import web

from .conftest import Stack, start_stack
from .test_oauth import REDIRECT, Flow, _pkce, connect_code, consent, mint_server


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"GMCP_FACADE_OAUTH_CIMD_ALLOW_LOOPBACK_HTTP": "true"}
    with start_stack(Path(tmp_path_factory.mktemp("e2e-cimd")), env_extra=env) as running:
        yield running


@pytest.fixture
async def documents() -> AsyncIterator[dict[str, dict[str, Any]]]:
    """name -> document, served at http://127.0.0.1:<port>/<name>; the dict's "" key holds the base."""
    served: dict[str, dict[str, Any]] = {}

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(served[request.match_info["name"]])

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    served[""] = {"base": f"http://127.0.0.1:{runner.addresses[0][1]}"}
    try:
        yield served
    finally:
        await runner.cleanup()


def _document(served: dict[str, dict[str, Any]], name: str, **overrides: Any) -> str:
    url = f"{served['']['base']}/{name}"
    served[name] = {
        "client_id": url,
        "client_name": "CIMD e2e client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **overrides,
    }
    return url


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[tuple[httpx2.AsyncClient, str]]:
    parts = urlsplit(stack.ready["mcp_url"])
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as client:
        yield client, f"{parts.scheme}://{parts.netloc}"


async def test_a_metadata_document_client_signs_in_without_registering(
    stack: Stack, documents: dict[str, dict[str, Any]], http: tuple[httpx2.AsyncClient, str]
) -> None:
    client, origin = http
    meta = await client.get(f"{origin}/.well-known/oauth-authorization-server")
    assert meta.json()["client_id_metadata_document_supported"] is True
    client_id = _document(documents, "client.json")
    flow = Flow(stack, client, origin, client_id)
    server = await mint_server(stack, "cimd", config={"methods": ["read"]})

    verifier, challenge = _pkce()
    query, form = await consent(
        flow.authorize_url(server["url"], challenge),
        await connect_code(stack, server["id"], "cid@example.com"),
    )
    assert form.fields["client_id"] == client_id
    tokens = await flow.exchange(query["code"][0], verifier, server["url"])
    assert tokens.status_code == 200, tokens.text
    access, refresh = tokens.json()["access_token"], tokens.json()["refresh_token"]
    assert await flow.mcp_status(server["url"], access) == 200
    refreshed = await flow.token(grant_type="refresh_token", refresh_token=refresh, resource=server["url"])
    assert refreshed.status_code == 200, refreshed.text
    listed = await client.get(
        stack.admin + f"/integrated-account/{stack.ready['account_id']}/mcp/{server['id']}/oauth/grants",
        headers=stack.auth,
    )
    (grant,) = listed.json()["result"]
    assert grant["client_id"] == client_id and grant["subject"] == "cid@example.com"
    # A document client has no secret: sending one is refused.
    wrong = await flow.token(grant_type="refresh_token", refresh_token="x", client_secret="s")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


async def test_an_unusable_document_is_an_error_page_and_invalid_client(
    stack: Stack, documents: dict[str, dict[str, Any]], http: tuple[httpx2.AsyncClient, str]
) -> None:
    """client_id not its own URL, a redirect URI off the allow-list: shown to the person (nothing
    redirected), and invalid_client at the token endpoint."""
    client, origin = http
    server = await mint_server(stack, "cimd bad")
    _, challenge = _pkce()
    for name, overrides, reason in (
        ("imposter.json", {"client_id": "https://claude.ai/client.json"}, "not its own URL"),
        ("evil.json", {"redirect_uris": ["https://evil.example.com/cb"]}, "is not allowed"),
    ):
        url = _document(documents, name, **overrides)
        flow = Flow(stack, client, origin, url)
        page = await client.get(flow.authorize_url(server["url"], challenge), follow_redirects=False)
        assert page.status_code == 400 and "Location" not in page.headers
        assert reason in page.text
        token = await flow.token(grant_type="authorization_code", code="x")
        assert token.status_code == 401 and token.json()["error"] == "invalid_client"
        assert reason in token.json()["error_description"]
