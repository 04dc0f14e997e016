"""Unit tests for the `gumloop-mcp` CLI: argument parsing, the Claude Desktop snippet, secret files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gumloop_mcp.claude_config import claude_desktop_config, render_claude_desktop_config
from gumloop_mcp.cli import build_parser, main
from gumloop_mcp.launcher import load_secrets, read_secret_file, write_secret_file
from services.mcp_facade.management_models import AccountCreate, ApiTokenCreate, McpServerCreate


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


def test_claude_config_without_token_bridges_the_url_through_mcp_remote() -> None:
    """The snippet runs `npx -y mcp-remote URL` with no env."""
    entry = claude_desktop_config("http://127.0.0.1:8080/mcp/gmcp_x")["mcpServers"]["gumloop"]
    assert entry == {"command": "npx", "args": ["-y", "mcp-remote", "http://127.0.0.1:8080/mcp/gmcp_x"]}


def test_claude_config_with_token_sends_it_from_env_not_args() -> None:
    """The API token sits in env and the header argument only references it."""
    entry = claude_desktop_config("http://h/mcp/t", api_token="gmcpat_abc")["mcpServers"]["gumloop"]
    assert entry["args"][-2:] == ["--header", "Authorization:${AUTH_HEADER}"]
    assert entry["env"] == {"AUTH_HEADER": "Bearer gmcpat_abc"}
    assert "gmcpat_abc" not in " ".join(entry["args"])


def test_claude_config_command_prints_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`gumloop-mcp claude-config --url U` prints a parseable mcpServers object."""
    main(["claude-config", "--url", "http://127.0.0.1:8080/mcp/t", "--name", "gl"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(render_claude_desktop_config("http://127.0.0.1:8080/mcp/t", name="gl"))


def test_secret_files_are_written_with_mode_0600(tmp_path: Path) -> None:
    """Every generated secret file is readable by its owner only."""
    secrets = load_secrets(tmp_path)
    files = list((tmp_path / "secrets").iterdir())
    assert len(files) == 3
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert len(secrets.tokens_pepper) >= 16


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
    body = AccountCreate.model_validate({"display_name": "a", "api_key": "sk-secret"})
    assert "sk-secret" not in repr(body)


def test_api_token_model_restricts_purposes() -> None:
    """purpose accepts only management and mcp_client."""
    assert ApiTokenCreate.model_validate({"name": "n"}).purpose == ["mcp_client"]
    with pytest.raises(ValueError, match="purpose"):
        ApiTokenCreate.model_validate({"name": "n", "purpose": ["root"]})
