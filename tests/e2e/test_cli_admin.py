"""The CLI's management verbs against the real stack: `gumloop-mcp servers|accounts|api-tokens|catalog`.

Each verb runs as its own process with only `--data-dir` (the directory `up` used): the admin URL
comes from the endpoints.json and the token from the api-token file `up` wrote there.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import httpx

from .conftest import ROOT, Stack

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}


def _cli(stack: Stack, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUMLOOP_", "GMCP_"))}
    data_dir = stack.stderr_path.parent / "data"
    return subprocess.run(
        [sys.executable, "-m", "gumloop_mcp.cli", *argv, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _json(stack: Stack, *argv: str) -> Any:
    done = _cli(stack, *argv, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _initialize(url: str, headers: dict[str, str] | None = None) -> int:
    return httpx.post(url, json=INIT, headers=headers or {}, timeout=30).status_code


def test_a_server_is_created_listed_updated_rotated_and_revoked(stack: Stack) -> None:
    """The whole life of an MCP server from the command line; its URLs work and stop as said."""
    accounts = _json(stack, "accounts", "list")
    assert [a["id"] for a in accounts] == [stack.ready["account_id"]]

    created = _json(stack, "servers", "create", "--name", "CLI e2e", "--method", "read")
    assert created["config"] == {
        "methods": ["read"],
        "tags": [],
        "tool_exposure": "default",
        "context_budget_tokens": 0,
        "audit_payloads": False,
        "oauth_allowed_emails": [],
        "oauth_allowed_domains": [],
        "oauth_allowed_groups": [],
    }
    first_url = created["url"]
    assert _initialize(first_url) == 200
    # The header form of the same token works too (the tokenless /mcp).
    base, token = first_url.rsplit("/", 1)
    assert _initialize(base, {"Authorization": f"Bearer {token}"}) == 200

    listed = _json(stack, "servers", "list")
    assert created["id"] in {s["id"] for s in listed}
    table = _cli(stack, "servers", "list")
    assert table.returncode == 0 and "CLI e2e" in table.stdout and token not in table.stdout

    updated = _json(stack, "servers", "update", created["id"], "--name", "CLI renamed", "--tag", "teams")
    assert updated["name"] == "CLI renamed"
    assert (updated["config"]["methods"], updated["config"]["tags"]) == (["read"], ["teams"])
    assert _json(stack, "servers", "get", created["id"])["name"] == "CLI renamed"

    rotated = _json(stack, "servers", "rotate", created["id"])
    assert rotated["url"] != first_url
    assert _initialize(first_url) == 404
    assert _initialize(rotated["url"]) == 200

    revoked = _cli(stack, "servers", "revoke", created["id"])
    assert revoked.returncode == 0 and "Revoked" in revoked.stdout
    assert _initialize(rotated["url"]) == 404
    assert created["id"] not in {s["id"] for s in _json(stack, "servers", "list")}

    missing = _cli(stack, "servers", "get", created["id"])
    assert missing.returncode == 1
    assert f"no MCP server '{created['id']}'" in missing.stderr


def test_api_tokens_are_created_listed_and_revoked(stack: Stack) -> None:
    """api-tokens create prints the secret once; list shows the record (not the secret); revoke ends it."""
    created = _json(stack, "api-tokens", "create", "--name", "cli client", "--purpose", "mcp_client")
    assert created["token"].startswith("gmcpat_") and created["purpose"] == ["mcp_client"]
    listed = _cli(stack, "api-tokens", "list")
    assert listed.returncode == 0 and "cli client" in listed.stdout and created["token"] not in listed.stdout
    assert _cli(stack, "api-tokens", "revoke", created["id"]).returncode == 0
    assert created["id"] not in {t["id"] for t in _json(stack, "api-tokens", "list")}


def test_refusals_and_an_unreachable_api_exit_1_with_a_message(stack: Stack) -> None:
    """The API's own message on a refusal; a clear line when nothing listens; never a traceback."""
    refused = _cli(stack, "api-tokens", "create", "--name", "x", "--account", "acct_missing")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "gumloop-mcp api-tokens:" in refused.stderr
    port = _closed_port()
    down = _cli(stack, "accounts", "list", "--api-url", f"http://127.0.0.1:{port}")
    assert down.returncode == 1
    assert f"cannot reach the management API at http://127.0.0.1:{port}" in down.stderr


def test_claude_config_defaults_to_the_demo_server_in_the_header_form(stack: Stack) -> None:
    """claude-config with only --data-dir: the demo server `up` made, its token in env, not in the URL."""
    done = _cli(stack, "claude-config")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)["mcpServers"]["gumloop"]
    base, token = stack.ready["mcp_url"].rsplit("/", 1)
    assert entry["args"][2] == base
    assert entry["env"] == {"AUTH_HEADER": f"Bearer {token}"}


def test_catalog_lists_operations(stack: Stack) -> None:
    """catalog prints the operations, the tags and the method groups GET /catalog publishes."""
    found = _json(stack, "catalog")
    names = {op["name"] for op in found["operations"]}
    assert "list_skills" in names and "read" in found["method_groups"]
    text = _cli(stack, "catalog")
    assert text.returncode == 0, text.stderr
    assert "list_all_gumloop_skills" in text.stdout
    assert "Method groups: " in text.stdout and "read (get,list)" in text.stdout
    assert all(tag in text.stdout for tag in found["tags"])
