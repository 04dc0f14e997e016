"""Unit tests for the `gumloop-mcp` CLI: argument parsing, the Claude Desktop snippet, secret files."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gumloop_mcp import cli
from gumloop_mcp.bootstrap import AccountSpec
from gumloop_mcp.claude_config import claude_desktop_config, render_claude_desktop_config
from gumloop_mcp.cli import build_parser, main
from gumloop_mcp.cli_admin import connection
from gumloop_mcp.launcher import (
    ChildExited,
    facade_env,
    load_secrets,
    read_secret_file,
    session_secret_path,
    write_secret_file,
)
from services.mcp_facade.management.management_models import AccountCreate, ApiTokenCreate, McpServerCreate


def test_up_defaults_match_the_documented_ports() -> None:
    """`up` without flags uses 8080/8081, the sqlite store and .gumloop-mcp."""
    args = build_parser().parse_args(["up"])
    assert (args.mcp_port, args.admin_port, args.store, args.json) == (8080, 8081, "sqlite", False)
    assert args.data_dir == Path(".gumloop-mcp")


def test_up_accepts_the_benchmark_flags() -> None:
    """The exact flags bench/stack.py passes parse, with every port 0."""
    args = build_parser().parse_args(
        ["up", "--json", "--mcp-port", "0", "--admin-port", "0", "--tokens-port", "0", "--proxy-port", "0"]
        + ["--emulator-port", "0", "--data-dir", "/tmp/x"]
    )
    assert args.json and args.data_dir == Path("/tmp/x")
    assert {args.mcp_port, args.admin_port, args.tokens_port, args.proxy_port, args.emulator_port} == {0}


def test_up_rejects_an_unknown_store() -> None:
    """--store only takes sqlite or redis."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--store", "mysql"])


def test_claude_config_sends_the_url_token_in_a_header_from_env_by_default() -> None:
    """The snippet bridges the tokenless /mcp (mcp-remote@0.15.1, as the e2e suite runs it) and the
    token is only in env, referenced by the Authorization header argument: never in args or the URL."""
    entry = claude_desktop_config("http://127.0.0.1:8080/mcp/gmcp_x")["mcpServers"]["gumloop"]
    assert entry == {
        "command": "npx",
        "args": [
            "-y",
            "mcp-remote@0.15.1",
            "http://127.0.0.1:8080/mcp",
            "--header",
            "Authorization:${AUTH_HEADER}",
        ],
        "env": {"AUTH_HEADER": "Bearer gmcp_x"},
    }


def test_claude_config_token_in_url_keeps_the_url_form() -> None:
    """--token-in-url: the secret URL as given, no env (for clients that take only a URL)."""
    entry = claude_desktop_config("http://127.0.0.1:8080/mcp/gmcp_x", token_in_url=True)["mcpServers"][
        "gumloop"
    ]
    assert entry == {
        "command": "npx",
        "args": ["-y", "mcp-remote@0.15.1", "http://127.0.0.1:8080/mcp/gmcp_x"],
    }


@pytest.mark.parametrize(
    ("url", "allow_http"),
    [
        ("http://127.0.0.1:8080/mcp/t", False),
        ("http://localhost:8080/mcp/t", False),
        ("https://mcp.example.com/mcp/t", False),
        ("http://10.0.0.5:8080/mcp/t", True),
        ("http://MCP.internal/mcp/t", True),
        ("http://[::1]:8080/mcp/t", True),  # mcp-remote 0.15.1 exempts only localhost and 127.0.0.1
        ("http://127.0.0.2:8080/mcp/t", True),
    ],
)
@pytest.mark.parametrize("token_in_url", [False, True])
def test_claude_config_adds_allow_http_where_mcp_remote_needs_it(
    url: str, allow_http: bool, token_in_url: bool
) -> None:
    """mcp-remote refuses plain http off localhost/127.0.0.1 unless --allow-http follows the URL."""
    config = claude_desktop_config(url, api_token="gmcpat_abc", token_in_url=token_in_url)
    args = config["mcpServers"]["gumloop"]["args"]
    assert args[:3] == ["-y", "mcp-remote@0.15.1", url if token_in_url else url.removesuffix("/t")]
    assert ("--allow-http" in args) is allow_http
    assert args[3 + allow_http : 5 + allow_http] == ["--header", "Authorization:${AUTH_HEADER}"]


def test_claude_config_with_an_api_token_keeps_both_secrets_in_env() -> None:
    """Header form: URL token in Authorization, API token in X-Gumloop-MCP-API-Token; both from env."""
    entry = claude_desktop_config("https://h/x/mcp/gmcp_t", api_token="gmcpat_abc")["mcpServers"]["gumloop"]
    assert entry["args"] == [
        "-y",
        "mcp-remote@0.15.1",
        "https://h/x/mcp",
        "--header",
        "Authorization:${AUTH_HEADER}",
        "--header",
        "X-Gumloop-MCP-API-Token:${GUMLOOP_MCP_API_TOKEN}",
    ]
    assert entry["env"] == {"AUTH_HEADER": "Bearer gmcp_t", "GUMLOOP_MCP_API_TOKEN": "gmcpat_abc"}


def test_claude_config_url_form_sends_the_api_token_in_authorization_from_env() -> None:
    """URL form: the API token sits in env and the Authorization header argument only references it."""
    config = claude_desktop_config("http://h/mcp/t", api_token="gmcpat_abc", token_in_url=True)
    entry = config["mcpServers"]["gumloop"]
    assert entry["args"][-2:] == ["--header", "Authorization:${AUTH_HEADER}"]
    assert entry["env"] == {"AUTH_HEADER": "Bearer gmcpat_abc"}
    assert "gmcpat_abc" not in " ".join(entry["args"])


@pytest.mark.parametrize(
    "url", ["http://h/other/gmcp_t", "http://h/mcp", "http://h/mcp/", "ftp://h/mcp/t", "t"]
)
def test_claude_config_header_form_refuses_what_is_not_an_mcp_url(url: str) -> None:
    """Without …/mcp/<token> there is no token to move into the header: a clear ValueError."""
    with pytest.raises(ValueError, match="not an MCP URL"):
        claude_desktop_config(url)


def test_claude_config_command_prints_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`gumloop-mcp claude-config --url U` prints a parseable mcpServers object."""
    with pytest.raises(SystemExit) as exited:
        main(["claude-config", "--url", "http://127.0.0.1:8080/mcp/t", "--name", "gl"])
    assert exited.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(render_claude_desktop_config("http://127.0.0.1:8080/mcp/t", name="gl"))


def test_claude_config_defaults_to_the_demo_server_up_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --url: the demo server's token and the MCP base URL `up` wrote to the data directory."""
    write_secret_file(tmp_path / "demo-mcp-server.json", json.dumps({"id": "mcp_d", "token": "gmcp_demo"}))
    connection.write_endpoints(
        tmp_path, connection.Endpoints("http://127.0.0.1:18080", "http://127.0.0.1:18081")
    )
    with pytest.raises(SystemExit) as exited:
        main(["claude-config", "--data-dir", str(tmp_path)])
    assert exited.value.code == 0
    entry = json.loads(capsys.readouterr().out)["mcpServers"]["gumloop"]
    assert entry["args"][2] == "http://127.0.0.1:18080/mcp"
    assert entry["env"] == {"AUTH_HEADER": "Bearer gmcp_demo"}


def test_claude_config_without_url_or_demo_server_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --url and nothing stored: exit 2 naming `gumloop-mcp up` and --url."""
    with pytest.raises(SystemExit) as exited:
        main(["claude-config", "--data-dir", str(tmp_path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "gumloop-mcp up" in err and "--url" in err


def test_secret_files_are_written_with_mode_0600(tmp_path: Path) -> None:
    """Every generated secret file is readable by its owner only."""
    secrets = load_secrets(tmp_path)
    files = list((tmp_path / "secrets").iterdir())
    assert len(files) == 3
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert len(secrets.tokens_pepper) >= 16


def test_a_facade_replica_env_carries_the_systems_secrets_and_the_shared_store(tmp_path: Path) -> None:
    """facade_env (what `up` and another replica start a façade with): the data directory's session
    secret and caller tokens; with a Redis URL the whole shared state is there, without one none is."""
    secrets = load_secrets(tmp_path)
    targets = {"tokens_target": "127.0.0.1:1", "proxy_target": "127.0.0.1:2"}
    env = facade_env(secrets, **targets, data_dir=tmp_path / "r", redis_url="redis://127.0.0.1:6379/0")
    assert env["GMCP_FACADE_SESSION_SECRET"] == read_secret_file(session_secret_path(tmp_path))
    assert env["GMCP_FACADE_TOKENS_CALLER_TOKEN"] == secrets.caller_tokens[("facade", "tokens")]
    assert env["GMCP_FACADE_PROXY_CALLER_TOKEN"] == secrets.caller_tokens[("facade", "proxy")]
    assert (env["GMCP_FACADE_STORE"], env["GMCP_FACADE_REDIS_URL"]) == ("redis", "redis://127.0.0.1:6379/0")
    assert (env["GMCP_FACADE_PORT"], env["GMCP_FACADE_DATA_DIR"]) == ("0", str(tmp_path / "r"))
    plain = facade_env(secrets, **targets, data_dir=tmp_path / "r", port=8080)
    assert "GMCP_FACADE_STORE" not in plain and plain["GMCP_FACADE_PORT"] == "8080"


def test_secrets_are_stable_across_runs(tmp_path: Path) -> None:
    """A second load reads the same secrets instead of generating new ones."""
    assert load_secrets(tmp_path) == load_secrets(tmp_path)


def test_write_secret_file_replaces_content_and_keeps_0600(tmp_path: Path) -> None:
    """Overwriting a secret keeps it private and returns the new value."""
    path = tmp_path / "api-token"
    write_secret_file(path, "one")
    write_secret_file(path, "two")
    assert read_secret_file(path) == "two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_secret_file(tmp_path / "missing") is None


def test_mcp_create_model_rejects_an_empty_name_and_unknown_fields() -> None:
    """Management bodies forbid unknown fields and empty names."""
    with pytest.raises(ValueError, match="name"):
        McpServerCreate.model_validate({"name": ""})
    with pytest.raises(ValueError, match="surprise"):
        McpServerCreate.model_validate({"name": "x", "surprise": 1})


def test_mcp_create_model_parses_iso_expiry_and_scope() -> None:
    """expires_at takes ISO 8601; config carries methods and tags."""
    body = McpServerCreate.model_validate(
        {"name": "x", "expires_at": "2030-01-01T00:00:00Z", "config": {"methods": ["read"], "tags": ["a"]}}
    )
    assert body.expires_at is not None and body.expires_at.year == 2030
    assert (body.config.methods, body.config.tags) == (["read"], ["a"])


def test_account_model_needs_exactly_one_credential_and_hides_it() -> None:
    """Either api_key or access_token; the secret never shows in repr."""
    with pytest.raises(ValueError, match="exactly one"):
        AccountCreate.model_validate({"display_name": "a"})
    with pytest.raises(ValueError, match="exactly one"):
        AccountCreate.model_validate({"display_name": "a", "api_key": "k", "access_token": "t"})
    body = AccountCreate.model_validate({"display_name": "a", "api_key": "sk-secret", "user_id": "u"})
    assert "sk-secret" not in repr(body)


def test_api_token_model_restricts_purposes() -> None:
    """purpose accepts only management and mcp_client."""
    assert ApiTokenCreate.model_validate({"name": "n"}).purpose == ["mcp_client"]
    with pytest.raises(ValueError, match="purpose"):
        ApiTokenCreate.model_validate({"name": "n", "purpose": ["root"]})


GUMLOOP_ENV = ("GUMLOOP_API_KEY", "GUMLOOP_USER_ID", "GUMLOOP_ACCESS_TOKEN", "GUMLOOP_TEAM_ID")
PORTS = {"emulator": {"http": 18090}, "proxy": {"grpc": 15052}, "tokens": {"grpc": 15051}}
PORTS["facade"] = {"http": 18080, "admin": 18081}


class FakeSupervisor:
    """Records which services `up` starts; the first child crash-loops right after the ready line."""

    last: FakeSupervisor | None = None

    def __init__(self, on_event: Any = None) -> None:
        self.started = []
        FakeSupervisor.last = self

    async def start(self, name: str, module: str, env: dict[str, str]) -> Any:
        self.started.append(name)
        return SimpleNamespace(name=name, ports=PORTS[name])

    async def supervise(self, stop: asyncio.Event) -> None:
        raise ChildExited(f"{self.started[0]} is crash-looping")

    async def stop_all(self) -> None:
        pass


@pytest.fixture
def fake_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`up` with fake children and bootstrap; returns a runner giving (exit code, stdout events, spec)."""
    for name in GUMLOOP_ENV:
        monkeypatch.delenv(name, raising=False)
    specs: list[AccountSpec] = []

    async def bootstrap(data_dir: Path, tokens: str, proxy: str, spec: AccountSpec, **_: Any) -> Any:
        specs.append(spec)
        return SimpleNamespace(api_token="gmcpat_x", account_id="acct", mcp_server_id="mcp_1", mcp_token="t")

    FakeSupervisor.last = None
    monkeypatch.setattr(cli, "Supervisor", FakeSupervisor)
    monkeypatch.setattr(cli, "bootstrap", bootstrap)

    def run(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]], list[AccountSpec], str]:
        args = build_parser().parse_args(["up", "--json", "--data-dir", str(tmp_path)])
        code = asyncio.run(cli._up(args))
        captured = capsys.readouterr()
        events = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
        return code, events, specs, captured.err

    return run


def test_an_api_key_without_a_user_id_is_refused_not_replaced_by_the_emulator(
    fake_up: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GUMLOOP_API_KEY alone exits 2 naming GUMLOOP_USER_ID, before starting anything."""
    monkeypatch.setenv("GUMLOOP_API_KEY", "gl-real-key")
    code, events, specs, err = fake_up(capsys)
    assert code == 2
    assert "GUMLOOP_USER_ID" in err and "GUMLOOP_API_KEY" in err
    assert events == [{"event": "error", "message": events[0]["message"]}]
    assert (FakeSupervisor.last is None or FakeSupervisor.last.started == []) and specs == []


def test_the_emulator_fallback_is_logged_and_named_in_the_ready_line(
    fake_up: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """No credentials: the emulator starts, a WARNING says so and the ready line has upstream=emulator."""
    with caplog.at_level(logging.WARNING, logger="gumloop_mcp.cli"):
        _, events, specs, _ = fake_up(capsys)
    ready = next(e for e in events if e["event"] == "ready")
    assert ready["upstream"] == "emulator"
    assert FakeSupervisor.last is not None and FakeSupervisor.last.started[0] == "emulator"
    assert specs[0].api_base_url.startswith("http://127.0.0.1:18090")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("EMULATOR" in r.getMessage() for r in warnings)


@pytest.mark.parametrize(
    "env",
    [
        {"GUMLOOP_API_KEY": "gl-real-key", "GUMLOOP_USER_ID": "user_1"},
        {"GUMLOOP_ACCESS_TOKEN": "oauth-token"},  # OAuth sends no x-auth-key: no user id needed
    ],
)
def test_real_credentials_use_gumloop_and_say_so(
    fake_up: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    """A complete configuration starts no emulator and reports upstream=gumloop."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _, events, specs, _ = fake_up(capsys)
    ready = next(e for e in events if e["event"] == "ready")
    assert (ready["upstream"], ready["emulator_url"]) == ("gumloop", None)
    assert FakeSupervisor.last is not None and "emulator" not in FakeSupervisor.last.started
    assert specs[0].user_id == env.get("GUMLOOP_USER_ID", "")


def test_the_ready_line_does_not_print_the_session_secret(
    fake_up: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The HMAC key of session ids stays in <data-dir>/secrets (0600), out of CI logs."""
    _, events, _, err = fake_up(capsys)
    ready = next(e for e in events if e["event"] == "ready")
    assert "session_secret" not in ready
    secret = read_secret_file(session_secret_path(tmp_path))
    assert secret and secret == load_secrets(tmp_path).session_secret
    assert secret not in json.dumps(events) and secret not in err
    assert stat.S_IMODE(session_secret_path(tmp_path).stat().st_mode) == 0o600


def test_a_failed_start_up_says_what_grpc_said_with_secrets_redacted() -> None:
    """The `error` event carries a gRPC failure's code and details, redacted as a log line is (it is
    printed, not logged); any other failure only its type."""
    import grpc

    details = "Gumloop answered 401 for api_key=sk-live-0123456789abcdef: the credential was refused"
    failure = grpc.aio.AioRpcError(
        grpc.StatusCode.FAILED_PRECONDITION, grpc.aio.Metadata(), grpc.aio.Metadata(), details
    )
    message = cli._startup_failure(failure)
    assert message.startswith("FAILED_PRECONDITION: Gumloop answered 401 for api_key=")
    assert "sk-live-0123456789abcdef" not in message and "[REDACTED]" in message
    assert message.endswith("the credential was refused")
    assert cli._startup_failure(OSError("port 50051 taken by gmcp_abcdefghijklmnopqrstuvwx")) == "OSError"
