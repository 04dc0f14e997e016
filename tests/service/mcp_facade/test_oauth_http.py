"""The authorization server's HTTP edges (a fake token service, a real façade): refusals before the
redirect URI is trusted are pages, later ones go back to the client; PKCE is S256 only; client
authentication for confidential clients; the consent page cannot be framed."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from .conftest import Stack

REDIRECT = "http://127.0.0.1:9/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def _setup(stack: Stack, http: aiohttp.ClientSession, **client: Any) -> tuple[str, str, dict[str, Any]]:
    token = stack.tokens.add_server("mcp_oauth", require_oauth=True)
    base = f"http://127.0.0.1:{stack.server.public_port}"
    body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", **client}
    async with http.post(f"{base}/oauth/register", json=body) as resp:
        assert resp.status == 201
        registered: dict[str, Any] = await resp.json()
    return base, f"{base}/mcp/{token}", registered


def _query(base: str, cid: str, target: str, **overrides: str) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": cid,
        "redirect_uri": REDIRECT,
        "state": "s",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "resource": target,
    }
    return {k: v for k, v in (query | overrides).items() if v != ""}


async def test_authorize_refusals_are_pages_before_the_redirect_is_trusted_and_redirects_after(
    stack: Stack,
) -> None:
    async with aiohttp.ClientSession() as http:
        base, resource, client = await _setup(stack, http)
        cid = client["client_id"]
        for overrides in (
            {"client_id": "gmcpoc_unknown"},
            {"redirect_uri": "http://127.0.0.1:9/other"},
            {"redirect_uri": ""},
        ):
            async with http.get(
                f"{base}/oauth/authorize",
                params=_query(base, cid, resource, **overrides),
                allow_redirects=False,
            ) as page:
                assert page.status == 400 and "Location" not in page.headers
        for overrides, error in (
            ({"code_challenge": ""}, "invalid_request"),
            ({"code_challenge_method": "plain"}, "invalid_request"),
            ({"response_type": "token"}, "unsupported_response_type"),
            ({"resource": f"{base}/mcp/gmcp_nope"}, "invalid_target"),
            ({"scope": "admin"}, "invalid_scope"),
        ):
            async with http.get(
                f"{base}/oauth/authorize",
                params=_query(base, cid, resource, **overrides),
                allow_redirects=False,
            ) as resp:
                assert resp.status == 303, overrides
                query = parse_qs(urlsplit(resp.headers["Location"]).query)
                assert query["error"] == [error] and query["state"] == ["s"] and query["iss"] == [base]
        async with http.get(f"{base}/oauth/authorize", params=_query(base, cid, resource)) as page:
            assert page.status == 200
            assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
            text = await page.text()
            assert "server mcp_oauth" in text and 'name="connect_code"' in text


async def test_token_endpoint_client_authentication_and_grant_types(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        base, _, public = await _setup(stack, http)
        _, _, confidential = await _setup(stack, http, token_endpoint_auth_method="client_secret_basic")
        token_url = f"{base}/oauth/token"
        async with http.post(
            token_url, data={"client_id": public["client_id"], "grant_type": "password"}
        ) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "unsupported_grant_type"
        async with http.post(
            token_url, data={"client_id": "gmcpoc_nobody", "grant_type": "refresh_token"}
        ) as resp:
            assert resp.status == 401 and (await resp.json())["error"] == "invalid_client"
        wrong = base64.b64encode(f"{confidential['client_id']}:nope".encode()).decode()
        async with http.post(
            token_url,
            data={"grant_type": "refresh_token", "refresh_token": "x"},
            headers={"Authorization": f"Basic {wrong}"},
        ) as resp:
            assert resp.status == 401 and "Basic" in resp.headers["WWW-Authenticate"]
        right = base64.b64encode(
            f"{confidential['client_id']}:{confidential['client_secret']}".encode()
        ).decode()
        async with http.post(
            token_url,
            data={"grant_type": "refresh_token", "refresh_token": "x"},
            headers={"Authorization": f"Basic {right}"},
        ) as resp:
            # Authenticated: now the refresh token itself is what is wrong.
            assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
        for metadata in (
            {"redirect_uris": [REDIRECT], "grant_types": ["password"]},
            {"redirect_uris": [REDIRECT], "grant_types": [["authorization_code"]]},
            {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": ["none"]},
            {"redirect_uris": [REDIRECT], "client_name": 5},
            {"redirect_uris": "http://127.0.0.1/cb"},
        ):
            async with http.post(f"{base}/oauth/register", json=metadata) as resp:
                assert resp.status == 400 and (await resp.json())["error"] == "invalid_client_metadata", (
                    metadata
                )
        async with http.post(f"{base}/oauth/register", data="[" * 5000 + "]" * 5000) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"
