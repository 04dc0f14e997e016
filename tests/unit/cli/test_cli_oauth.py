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


def _run_with(server: dict[str, Any], argv: list[str], sent: list[tuple[str, str, Any]]) -> int:
    """Like _run, with `server` as the stored server (GET) the update starts from."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        sent.append((request.method, request.url.path, body))
        if request.url.path == f"{BASE}/mcp_1" and request.method == "GET":
            return httpx.Response(200, json=server)
        if request.url.path == f"{BASE}/mcp_1" and request.method == "PATCH":
            return httpx.Response(
                200, json=server | body | {"config": server["config"] | body.get("config", {})}
            )
        if request.url.path == BASE and request.method == "POST":
            return httpx.Response(
                201, json=server | {"config": body["config"], "url": "http://h/mcp/gmcp_new"}
            )
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no", "fields": []}})

    client = ManagementClient("http://127.0.0.1:1", "gmcpat_test", transport=httpx.MockTransport(handler))
    return run(build_parser().parse_args(argv), client=client)


def test_create_sends_the_allowed_sets_and_shows_them(capsys: pytest.CaptureFixture[str]) -> None:
    sent: list[tuple[str, str, Any]] = []
    argv = ["servers", "create", "--name", "S", "--account", "acct_local", "--require-oauth"]
    allowed = ["--allow-email", "Ada@Example.com", "--allow-email", "bob@example.com"]
    allowed += ["--allow-domain", "example.org", "--allow-group", "platform"]
    assert _run_with(SERVER, [*argv, *allowed], sent) == 0
    method, path, body = sent[-1]
    assert (method, path) == ("POST", BASE)
    assert body["config"] == {
        "methods": [],
        "tags": [],
        "oauth_allowed_emails": ["Ada@Example.com", "bob@example.com"],
        "oauth_allowed_domains": ["example.org"],
        "oauth_allowed_groups": ["platform"],
    }
    out = capsys.readouterr().out
    assert "ALLOWED" in out and "Ada@Example.com,bob@example.com,@example.org,group:platform" in out


def test_create_refuses_allowed_sets_without_oauth(capsys: pytest.CaptureFixture[str]) -> None:
    sent: list[tuple[str, str, Any]] = []
    argv = ["servers", "create", "--name", "S", "--account", "acct_local", "--allow-domain", "example.org"]
    assert _run_with(SERVER, argv, sent) == 2
    assert (
        "--allow-domain: who may sign in applies to --require-oauth servers only" in capsys.readouterr().err
    )
    assert sent == []


def test_update_replaces_one_list_and_keeps_the_rest_of_the_config() -> None:
    stored = SERVER | {
        "config": {
            "methods": ["read"],
            "tags": [],
            "tool_exposure": "auto",
            "audit_payloads": True,
            "oauth_allowed_emails": ["ada@example.com"],
            "oauth_allowed_domains": ["example.org"],
            "oauth_allowed_groups": [],
        }
    }
    sent: list[tuple[str, str, Any]] = []
    argv = [
        "servers",
        "update",
        "mcp_1",
        "--account",
        "acct_local",
        "--allow-group",
        "ops",
        "--allow-group",
        "sre",
    ]
    assert _run_with(stored, argv, sent) == 0
    assert sent[-1] == (
        "PATCH",
        f"{BASE}/mcp_1",
        {"config": stored["config"] | {"oauth_allowed_groups": ["ops", "sre"]}},
    )
    # a scope change alone keeps the allowed sets and the other config fields (the API replaces the config)
    assert (
        _run_with(stored, ["servers", "update", "mcp_1", "--account", "acct_local", "--tag", "t"], sent) == 0
    )
    assert sent[-1][2] == {"config": stored["config"] | {"tags": ["t"]}}
    assert (
        _run_with(stored, ["servers", "update", "mcp_1", "--account", "acct_local", "--allow-nobody"], sent)
        == 0
    )
    emptied = {"oauth_allowed_emails": [], "oauth_allowed_domains": [], "oauth_allowed_groups": []}
    assert sent[-1][2] == {"config": stored["config"] | emptied}


def test_update_refuses_allowed_sets_on_a_server_without_oauth(capsys: pytest.CaptureFixture[str]) -> None:
    plain = SERVER | {"require_oauth": False}
    sent: list[tuple[str, str, Any]] = []
    argv = ["servers", "update", "mcp_1", "--account", "acct_local", "--allow-email", "ada@example.com"]
    assert _run_with(plain, argv, sent) == 2
    assert "applies to OAuth servers only (add --require-oauth" in capsys.readouterr().err
    assert [m for m, _, _ in sent] == ["GET"]
    # turning OAuth on in the same update makes them meaningful
    assert _run_with(plain, [*argv, "--require-oauth"], sent) == 0
    assert sent[-1][2]["require_oauth"] is True
    assert sent[-1][2]["config"]["oauth_allowed_emails"] == ["ada@example.com"]
    # and turning it off (or choosing the API-token factor) does not
    assert _run_with(SERVER, [*argv, "--no-require-oauth"], sent) == 2
    assert _run_with(SERVER, [*argv, "--require-api-token"], sent) == 2
    both = ["servers", "update", "mcp_1", "--account", "acct_local", "--allow-nobody", "--allow-group", "x"]
    assert _run_with(SERVER, both, sent) == 2
    assert "--allow-nobody and --allow-group contradict each other" in capsys.readouterr().err
