"""The CLI's OAuth verbs: --require-oauth, connect codes, grants and their revocation."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gumloop_mcp.cli import build_parser
from gumloop_mcp.cli_admin import run
from gumloop_mcp.management_client import ManagementClient

SERVER = {
    "id": "mcp_1",
    "name": "Signed in",
    "account_id": "acct_local",
    "config": {"methods": [], "tags": []},
    "expires_at": None,
    "require_api_token_auth": False,
    "require_oauth": True,
    "created_at": "2026-12-05T20:00:00Z",
    "last_used_at": None,
    "token_prefix": "gmcp_abcd",
    "url": None,
}
GRANT = {
    "id": "grant_1",
    "subject": "ada@example.com",
    "client_id": "gmcpoc_x",
    "client_name": "Claude",
    "created_at": "2026-12-05T20:00:00Z",
    "last_used_at": "2026-12-05T21:00:00Z",
    "expires_at": "2027-01-04T21:00:00Z",
}
BASE = "/integrated-account/acct_local/mcp"


def _run(argv: list[str], sent: list[tuple[str, str, Any]]) -> int:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path, method = request.url.path, request.method
        sent.append((method, path, body))
        if path == BASE and method == "POST":
            return httpx.Response(201, json=SERVER | {"url": "http://h/mcp/gmcp_new"})
        if path == f"{BASE}/mcp_1/oauth/connect-codes":
            made = {"code": "gmcpcc_secret", "mcp_server_id": "mcp_1", "subject": body["subject"]}
            return httpx.Response(201, json=made | {"expires_at": "2026-12-05T21:00:00Z"})
        if path == f"{BASE}/mcp_1/oauth/grants":
            return httpx.Response(200, json={"result": [GRANT]})
        if path == f"{BASE}/mcp_1/oauth/grants/grant_1":
            return httpx.Response(204)
        if path == f"{BASE}/mcp_1" and method == "PATCH":
            return httpx.Response(200, json=SERVER | body)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no", "fields": []}})

    client = ManagementClient("http://127.0.0.1:1", "gmcpat_test", transport=httpx.MockTransport(handler))
    return run(build_parser().parse_args(argv), client=client)


def test_create_with_require_oauth_sends_it_and_refuses_both_factors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sent: list[tuple[str, str, Any]] = []
    assert _run(["servers", "create", "--name", "S", "--account", "acct_local", "--require-oauth"], sent) == 0
    assert sent[-1][2]["require_oauth"] is True and sent[-1][2]["require_api_token_auth"] is False
    argv = [
        "servers",
        "create",
        "--name",
        "S",
        "--account",
        "acct_local",
        "--require-oauth",
        "--require-api-token",
    ]
    assert _run(argv, sent) != 0
    assert "exclude each other" in capsys.readouterr().err
    assert len(sent) == 1  # nothing sent for the contradiction


def test_connect_code_grants_and_revoke_grant(capsys: pytest.CaptureFixture[str]) -> None:
    sent: list[tuple[str, str, Any]] = []
    argv = ["servers", "connect-code", "mcp_1", "--account", "acct_local", "--subject", "ada@example.com"]
    assert _run([*argv, "--ttl", "600"], sent) == 0
    assert sent[-1] == (
        "POST",
        f"{BASE}/mcp_1/oauth/connect-codes",
        {"subject": "ada@example.com", "ttl_seconds": 600},
    )
    out = capsys.readouterr().out
    assert "gmcpcc_secret" in out and "shown only once" in out
    assert _run(["servers", "grants", "mcp_1", "--account", "acct_local"], sent) == 0
    out = capsys.readouterr().out
    assert "SUBJECT" in out and "ada@example.com" in out and "Claude" in out
    assert _run(["servers", "revoke-grant", "mcp_1", "grant_1", "--account", "acct_local"], sent) == 0
    assert sent[-1][:2] == ("DELETE", f"{BASE}/mcp_1/oauth/grants/grant_1")
    assert "signed out" in capsys.readouterr().out
    assert _run(["servers", "update", "mcp_1", "--account", "acct_local", "--no-require-oauth"], sent) == 0
    assert sent[-1] == ("PATCH", f"{BASE}/mcp_1", {"require_oauth": False})
