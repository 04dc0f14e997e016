"""Unit tests for the management verbs of the CLI: parsing, requests sent, rendering, errors, defaults."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gumloop_mcp.cli import build_parser
from gumloop_mcp.cli_admin import connection, run
from gumloop_mcp.cli_admin.render import SERVER_COLUMNS, catalog_text, table, when
from gumloop_mcp.launcher import write_secret_file
from gumloop_mcp.management_client import ManagementClient

SERVER = {
    "id": "mcp_1",
    "name": "Read only",
    "account_id": "acct_local",
    "config": {"methods": ["read"], "tags": []},
    "expires_at": None,
    "require_api_token_auth": False,
    "created_at": "2026-12-05T20:00:00Z",
    "last_used_at": None,
    "token_prefix": "gmcp_abcd",
    "url": None,
}
ACCOUNT = {
    "id": "acct_local",
    "display_name": "Gumloop emulator",
    "credential_kind": "api_key",
    "user_id": "u1",
    "team_id": "",
    "project_id": "",
    "api_base_url": "http://127.0.0.1:8090/api/v1",
    "stream_base_url": "",
    "created_at": None,
}

Sent = list[tuple[str, str, Any]]


def _client(answer: Callable[[httpx.Request], httpx.Response], sent: Sent) -> ManagementClient:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        sent.append((request.method, request.url.raw_path.decode(), body))
        assert request.headers["Authorization"] == "Bearer gmcpat_test"
        return answer(request)

    return ManagementClient("http://127.0.0.1:1", "gmcpat_test", transport=httpx.MockTransport(handler))


def _run(argv: list[str], answer: Callable[[httpx.Request], httpx.Response], sent: Sent) -> int:
    return run(build_parser().parse_args(argv), client=_client(answer, sent))


def _api(request: httpx.Request) -> httpx.Response:
    """A tiny management API: one account, one server."""
    path, method = request.url.path, request.method
    if path == "/integrated-account" and method == "GET":
        return httpx.Response(200, json={"result": [ACCOUNT], "next_cursor": None})
    if path == "/integrated-account/acct_local/mcp" and method == "GET":
        return httpx.Response(200, json={"result": [SERVER], "next_cursor": None})
    if path == "/integrated-account/acct_local/mcp" and method == "POST":
        body = json.loads(request.content)
        return httpx.Response(201, json=SERVER | {"name": body["name"], "url": "http://h/mcp/gmcp_new"})
    if path == "/integrated-account/acct_local/mcp/mcp_1":
        if method == "GET":
            return httpx.Response(200, json=SERVER)
        if method == "PATCH":
            return httpx.Response(200, json=SERVER | json.loads(request.content))
        return httpx.Response(204)
    if path == "/integrated-account/acct_local/mcp/mcp_1/rotate":
        return httpx.Response(200, json=SERVER | {"url": "http://h/mcp/gmcp_rotated"})
    error = {"code": "not_found", "message": "no such MCP server for this account", "fields": []}
    return httpx.Response(404, json={"error": error})


def test_servers_create_sends_the_scope_and_prints_the_url_once(capsys: pytest.CaptureFixture[str]) -> None:
    """create: methods, tags, expiry and the second factor go in the body; the URL is printed."""
    sent: Sent = []
    argv = ["servers", "create", "--name", "RO", "--method", "read", "--tag", "flows", "--tag", "runs"]
    argv += ["--expires-at", "2030-01-01T00:00Z", "--require-api-token"]
    assert _run(argv, _api, sent) == 0
    assert sent[-1] == (
        "POST",
        "/integrated-account/acct_local/mcp",
        {
            "name": "RO",
            "config": {"methods": ["read"], "tags": ["flows", "runs"]},
            "require_api_token_auth": True,
            "expires_at": "2030-01-01T00:00:00+00:00",
        },
    )
    out = capsys.readouterr().out
    assert "http://h/mcp/gmcp_new" in out and "shown only once" in out


def test_a_time_without_offset_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    """--expires-at needs a UTC offset: argparse exits 2 naming the fix."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["servers", "create", "--name", "x", "--expires-at", "2030-01-01T00:00"])
    assert exited.value.code == 2
    assert "UTC offset" in capsys.readouterr().err


def test_rotate_sends_the_grace_period_only_when_given() -> None:
    """rotate --grace-period N sends {"grace_period_seconds": N}; without it, no body."""
    sent: Sent = []
    assert (
        _run(["servers", "rotate", "mcp_1", "--account", "acct_local", "--grace-period", "60"], _api, sent)
        == 0
    )
    assert _run(["servers", "rotate", "mcp_1", "--account", "acct_local"], _api, sent) == 0
    assert [s[2] for s in sent] == [{"grace_period_seconds": 60}, None]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["servers", "rotate", "mcp_1", "--grace-period", "-1"])


def test_update_of_the_tags_keeps_the_methods_and_finds_the_account(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --account the server's account is found; config is sent whole (methods kept)."""
    sent: Sent = []
    assert (
        _run(["servers", "update", "mcp_1", "--tag", "flows", "--no-require-api-token", "--json"], _api, sent)
        == 0
    )
    patch = [s for s in sent if s[0] == "PATCH"]
    assert patch == [
        (
            "PATCH",
            "/integrated-account/acct_local/mcp/mcp_1",
            {"require_api_token_auth": False, "config": {"methods": ["read"], "tags": ["flows"]}},
        )
    ]
    assert json.loads(capsys.readouterr().out)["config"] == {"methods": ["read"], "tags": ["flows"]}


def test_update_without_changes_or_with_contradictions_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing to change, or --method with --all-methods: exit 2, no PATCH sent."""
    sent: Sent = []
    assert _run(["servers", "update", "mcp_1", "--account", "acct_local"], _api, sent) == 2
    assert "nothing to update" in capsys.readouterr().err
    argv = ["servers", "update", "mcp_1", "--account", "acct_local", "--method", "read", "--all-methods"]
    assert _run(argv, _api, sent) == 2
    assert "contradict" in capsys.readouterr().err
    assert not [s for s in sent if s[0] == "PATCH"]


def test_servers_list_covers_every_account_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    """list without --account asks each account; the table has headers and the server's row."""
    sent: Sent = []
    assert _run(["servers", "list"], _api, sent) == 0
    assert [s[1] for s in sent] == [
        "/integrated-account?limit=100",
        "/integrated-account/acct_local/mcp?limit=100",
    ]
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "ACCOUNT"]
    assert row.startswith("mcp_1") and "Read only" in row and "gmcp_abcd…" in row


def test_lists_follow_next_cursor() -> None:
    """Pages are followed until next_cursor is null."""
    sent: Sent = []

    def paged(request: httpx.Request) -> httpx.Response:
        if "next_cursor" in request.url.params:
            return httpx.Response(200, json={"result": [{"id": "b"}], "next_cursor": None})
        return httpx.Response(200, json={"result": [{"id": "a"}], "next_cursor": "c/1"})

    assert [t["id"] for t in _client(paged, sent).list_api_tokens()] == ["a", "b"]
    assert sent[1][1] == "/api-tokens?limit=100&next_cursor=c%2F1"


def test_a_refusal_prints_the_apis_message_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """The API's error message, code and field violations reach stderr; exit status 1."""

    def refuse(request: httpx.Request) -> httpx.Response:
        fields = [{"field": "name", "description": "String should have at least 1 character"}]
        error = {"code": "invalid_argument", "message": "the request body is invalid", "fields": fields}
        return httpx.Response(400, json={"error": error})

    assert _run(["api-tokens", "create", "--name", "x"], refuse, []) == 1
    err = capsys.readouterr().err
    assert "the request body is invalid (400 invalid_argument)" in err
    assert "name: String should have at least 1 character" in err


def test_an_unknown_server_is_a_404_message(capsys: pytest.CaptureFixture[str]) -> None:
    """get of a server in no account: exit 1, the id named."""
    assert _run(["servers", "get", "mcp_nope"], _api, []) == 1
    assert "no MCP server 'mcp_nope' in any integrated account" in capsys.readouterr().err


def test_an_unreachable_api_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """A refused connection: exit 1, the URL and a hint, no traceback."""

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert _run(["accounts", "list"], down, []) == 1
    err = capsys.readouterr().err
    assert "cannot reach the management API at http://127.0.0.1:1" in err and "Traceback" not in err


def test_no_token_anywhere_exits_1_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without GMCP_API_TOKEN or <data-dir>/api-token nothing is sent."""
    monkeypatch.delenv("GMCP_API_TOKEN", raising=False)
    code = run(build_parser().parse_args(["api-tokens", "list", "--data-dir", str(tmp_path)]))
    assert code == 1
    err = capsys.readouterr().err
    assert "GMCP_API_TOKEN" in err and str(tmp_path / "api-token") in err


def test_api_url_and_token_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """URL: flag > GMCP_API_URL > endpoints.json > 8081. Token: GMCP_API_TOKEN > <data-dir>/api-token."""
    monkeypatch.delenv("GMCP_API_URL", raising=False)
    monkeypatch.delenv("GMCP_API_TOKEN", raising=False)
    assert connection.api_url(None, tmp_path) == "http://127.0.0.1:8081"
    connection.write_endpoints(tmp_path, connection.Endpoints("http://127.0.0.1:1", "http://127.0.0.1:2"))
    assert connection.api_url(None, tmp_path) == "http://127.0.0.1:2"
    monkeypatch.setenv("GMCP_API_URL", "http://127.0.0.1:3")
    assert connection.api_url(None, tmp_path) == "http://127.0.0.1:3"
    assert connection.api_url("http://127.0.0.1:4", tmp_path) == "http://127.0.0.1:4"
    write_secret_file(tmp_path / "api-token", "gmcpat_file")
    assert connection.api_token(tmp_path) == "gmcpat_file"
    monkeypatch.setenv("GMCP_API_TOKEN", "gmcpat_env")
    assert connection.api_token(tmp_path) == "gmcpat_env"
    monkeypatch.setenv("GMCP_DATA_DIR", str(tmp_path))
    assert connection.data_dir(None) == tmp_path
    assert connection.data_dir(Path("x")) == Path("x")


def test_accounts_connect_reads_the_credential_from_env_never_a_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API key comes from GUMLOOP_API_KEY; the output never echoes it."""
    monkeypatch.setenv("GUMLOOP_API_KEY", "gl-secret")
    sent: Sent = []

    def created(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json=ACCOUNT)

    argv = ["accounts", "connect", "--display-name", "Mine", "--user-id", "u1", "--id", "acct_mine"]
    assert _run(argv, created, sent) == 0
    assert sent[0][2]["api_key"] == "gl-secret" and sent[0][2]["id"] == "acct_mine"
    assert "gl-secret" not in capsys.readouterr().out


def test_catalog_renders_operations_tags_and_groups(capsys: pytest.CaptureFixture[str]) -> None:
    """catalog: an operations table, then the tags and method groups; --tag filters operations."""
    found = {
        "operations": [
            {"name": "list_teams", "tool_name": "list_all_gumloop_teams", "kind": "read", "tags": ["teams"]},
            {"name": "start_flow", "tool_name": "start_gumloop_flow", "kind": "write", "tags": ["flows"]},
        ],
        "tags": ["flows", "teams"],
        "method_groups": {"read": ["get", "list"], "write": ["create", "update", "delete"]},
        "catalog_version": "v",
    }
    sent: Sent = []
    assert _run(["catalog", "--tag", "flows"], lambda _: httpx.Response(200, json=found), sent) == 0
    assert sent[0][:2] == ("GET", "/catalog")
    out = capsys.readouterr().out
    assert "start_gumloop_flow" in out and "list_all_gumloop_teams" not in out
    assert (
        "Tags:          flows,teams" in out
        and "Method groups: read (get,list); write (create,update,delete)" in out
    )
    assert catalog_text({"operations": []}).startswith("(none)")


def test_table_pads_columns_and_when_shows_utc_minutes() -> None:
    """Columns line up; times are UTC to the minute; empty lists say what they mean."""
    other = SERVER | {"id": "mcp_22", "config": {"methods": [], "tags": ["a", "b"]}, "token_prefix": ""}
    lines = table([SERVER, other], SERVER_COLUMNS).splitlines()
    assert lines[1].index("Read only") == lines[2].index("Read only") == lines[0].index("NAME")
    assert " all " in lines[2] and "a,b" in lines[2]
    assert when("2026-12-05T21:07:30+01:00") == "2026-12-05 20:07Z"
    assert when(None) == "-"
    assert table([], SERVER_COLUMNS, "(no MCP servers)") == "(no MCP servers)"


def test_catalog_on_an_api_without_it_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """A management API that predates GET /catalog: exit 1 with that explanation, not a bare 404."""
    assert _run(["catalog"], lambda _: httpx.Response(404, text="404: Not Found"), []) == 1
    assert "has no GET /catalog" in capsys.readouterr().err
