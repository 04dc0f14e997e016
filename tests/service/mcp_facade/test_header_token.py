"""The URL token in `Authorization: Bearer` on the tokenless `/mcp`: same scope, same refusals as the path."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from gumloop_mcp.runtime import TokenKind, generate_token

from .conftest import Stack, sdk_session

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}


async def _post(url: str, headers: dict[str, str]) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, json=INIT, headers=headers) as resp:
        return resp.status, await resp.text(), resp.headers


async def _tools_and_echo(url: str, headers: dict[str, str] | None = None) -> tuple[list[str], Any]:
    async with sdk_session(url, headers) as session:
        await session.initialize()
        tools = [tool.name for tool in (await session.list_tools()).tools]
        called = await session.call_tool("echo", {"text": "hi"})
        return tools, called.structured_content


async def test_the_official_client_works_with_the_token_in_the_authorization_header(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """`/mcp` + `Authorization: Bearer gmcp_...` serves exactly the scope of `/mcp/{token}`."""
    caplog.set_level(logging.INFO)
    by_header = await _tools_and_echo(f"{stack.base}/mcp", {"Authorization": f"Bearer {stack.token}"})
    # Neither the access log nor the client's own log saw the token.
    assert stack.token not in caplog.text
    assert "POST /mcp 200" in caplog.text
    by_path = await _tools_and_echo(stack.url)
    assert by_header == by_path == (["echo", "slow"], {"echo": "mcp_1:hi"})
    assert stack.toolbox.calls == [("echo", {"text": "hi"})] * 2


async def test_unknown_malformed_missing_or_api_tokens_get_the_generic_404(stack: Stack) -> None:
    """Whatever is wrong with the header's token, the answer is the path form's 404, byte for byte."""
    reference = await _post(f"{stack.base}/mcp/{generate_token(TokenKind.MCP_URL)}", {})
    assert reference[0] == 404
    for headers in (
        {"Authorization": f"Bearer {generate_token(TokenKind.MCP_URL)}"},
        {"Authorization": "Bearer gmcp_not-a-token"},
        {"Authorization": f"Bearer {stack.tokens.add_api_token()}"},
        {"Authorization": f"Basic {stack.token}"},
        {"Authorization": "Bearer "},
        {},
    ):
        status, body, _ = await _post(f"{stack.base}/mcp", headers)
        assert (status, body) == (404, reference[1]), headers


async def test_a_revoked_token_stops_working_in_the_header_too(stack: Stack) -> None:
    """A revocation event refuses the header form as it does the path form."""
    headers = {"Authorization": f"Bearer {stack.token}"}
    assert (await _post(f"{stack.base}/mcp", headers))[0] == 200
    await stack.tokens.revoke("mcp_1")
    await stack.server.resolver.watch_live.wait()
    for _ in range(50):
        if (await _post(f"{stack.base}/mcp", headers))[0] == 404:
            break
    assert (await _post(f"{stack.base}/mcp", headers))[0] == 404


async def test_the_second_factor_goes_in_its_own_header_on_mcp(stack: Stack) -> None:
    """require_api_token_auth on `/mcp`: the API token in X-Gumloop-MCP-API-Token, 401 without it."""
    token = stack.tokens.add_server("mcp_secure", require_api_token=True)
    api_token = stack.tokens.add_api_token()
    url_token = {"Authorization": f"Bearer {token}"}
    for extra in (
        {},
        {"X-Gumloop-MCP-API-Token": "nope"},
        {"X-Gumloop-MCP-API-Token": f"Bearer {api_token}"},
    ):
        status, body, headers = await _post(f"{stack.base}/mcp", url_token | extra)
        assert status == 401, extra
        assert headers["WWW-Authenticate"] == 'Bearer realm="gumloop-mcp"'
        assert "X-Gumloop-MCP-API-Token" in body
    status, _, _ = await _post(f"{stack.base}/mcp", url_token | {"X-Gumloop-MCP-API-Token": api_token})
    assert status == 200
    # The path form keeps the API token in Authorization.
    status, _, _ = await _post(f"{stack.base}/mcp/{token}", {"Authorization": f"Bearer {api_token}"})
    assert status == 200


async def test_the_legacy_sse_transport_is_not_offered_on_mcp(stack: Stack) -> None:
    """HTTP+SSE names the token in its endpoint URLs: a session-less SSE GET on `/mcp` is 405."""
    headers = {"Authorization": f"Bearer {stack.token}", "Accept": "text/event-stream"}
    async with aiohttp.ClientSession() as http, http.get(f"{stack.base}/mcp", headers=headers) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"


async def test_browser_clients_get_cors_and_host_checks_on_mcp_too(stack: Stack) -> None:
    """`/mcp` answers an allowed Origin's preflight (API-token header allowed) and refuses a foreign Host."""
    server = await stack.make(allowed_origins=["https://inspector.example"])
    url = f"http://127.0.0.1:{server.public_port}/mcp"
    origin = {"Origin": "https://inspector.example"}
    auth = {"Authorization": f"Bearer {stack.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.options(url, headers=origin) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "https://inspector.example"
            assert "X-Gumloop-MCP-API-Token" in resp.headers["Access-Control-Allow-Headers"]
        async with http.post(url, json=INIT, headers=origin | auth) as resp:
            assert resp.status == 200
            assert "Mcp-Session-Id" in resp.headers["Access-Control-Expose-Headers"]
        async with http.post(url, json=INIT, headers=auth | {"Host": "evil.example"}) as resp:
            assert resp.status == 421
