"""Token resolution (cache + revocation watch), the API-token second factor, backend outages."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from gumloop_mcp.runtime import TokenKind, generate_token

from .conftest import Stack

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}


async def _post(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=INIT, headers=headers or {}) as resp,
    ):
        return resp.status, await resp.text(), resp.headers


async def test_unknown_and_malformed_tokens_get_the_same_generic_404(stack: Stack) -> None:
    """Unknown and malformed tokens are 404 with one body; a malformed one never reaches the token service."""
    unknown = generate_token(TokenKind.MCP_URL)
    status_unknown, body_unknown, _ = await _post(f"{stack.base}/mcp/{unknown}")
    calls = stack.tokens.resolve_calls
    status_bad, body_bad, _ = await _post(f"{stack.base}/mcp/gmcp_not-a-token")
    assert (status_unknown, status_bad) == (404, 404)
    assert body_unknown == body_bad
    assert stack.tokens.resolve_calls == calls
    assert "mcp_" not in body_unknown


async def test_resolutions_are_cached(stack: Stack) -> None:
    """Two requests with the same token resolve it once."""
    before = stack.tokens.resolve_calls
    assert (await _post(stack.url))[0] == 200
    assert (await _post(stack.url))[0] == 200
    assert stack.tokens.resolve_calls == before + 1


async def test_revocation_event_drops_the_cache_within_a_second(stack: Stack) -> None:
    """After a DELETED event on the watch stream the cached token gets 404 (not after the 30 s TTL)."""
    assert (await _post(stack.url))[0] == 200
    await stack.tokens.revoke("mcp_1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    status = 200
    while loop.time() < deadline:
        status = (await _post(stack.url))[0]
        if status == 404:
            break
        await asyncio.sleep(0.02)
    assert status == 404


async def test_second_factor_missing_or_wrong_is_401_with_www_authenticate(stack: Stack) -> None:
    """require_api_token_auth: no/bad bearer -> 401 + WWW-Authenticate; a valid API token passes."""
    token = stack.tokens.add_server("mcp_secure", require_api_token=True)
    api_token = stack.tokens.add_api_token()
    url = f"{stack.base}/mcp/{token}"
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {generate_token(TokenKind.API)}"},
    ):
        status, body, reply_headers = await _post(url, headers)
        assert status == 401
        assert reply_headers["WWW-Authenticate"] == 'Bearer realm="gumloop-mcp"'
        assert "API token" in body
    status, _, _ = await _post(url, {"Authorization": f"Bearer {api_token}"})
    assert status == 200


async def test_token_service_down_is_503_with_a_clear_error(stack: Stack) -> None:
    """ResolveToken UNAVAILABLE -> 503 with a JSON-RPC error; the server serves again afterwards."""
    stack.tokens.down = True
    status, body, headers = await _post(f"{stack.base}/mcp/{stack.tokens.add_server('mcp_x')}")
    assert status == 503
    assert "token service" in body
    assert headers["Retry-After"]
    stack.tokens.down = False
    assert (await _post(stack.url))[0] == 200
