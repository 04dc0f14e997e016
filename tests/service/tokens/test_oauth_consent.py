"""config.oauth_allowed_emails / _domains / _groups (who may consent to an OAuth server through the
façade's identity provider): empty by default; stored normalised (emails and domains lowercased,
repeats dropped), resolved, updated alone or with the config, on both stores; malformed entries are
INVALID_ARGUMENT naming the field; an older SQLite file gains them empty."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.tokens.sqlite_schema import SERVER_COLUMNS, migrate, server_from_row
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens


def _update(server_id: str, config: pb.McpServerConfig, path: str) -> pb.UpdateMcpServerRequest:
    return pb.UpdateMcpServerRequest(
        mcp_server=pb.McpServer(id=server_id, config=config),
        update_mask=field_mask_pb2.FieldMask(paths=[path]),
    )


def _allowed(config: pb.McpServerConfig) -> tuple[list[str], list[str], list[str]]:
    return (
        list(config.oauth_allowed_emails),
        list(config.oauth_allowed_domains),
        list(config.oauth_allowed_groups),
    )


async def test_allowed_sets_are_stored_normalised_resolved_and_updated(make_tokens: MakeTokens) -> None:
    tokens = await make_tokens()
    config = pb.McpServerConfig(
        methods=["read"],
        oauth_allowed_emails=[" Ada@Example.COM", "ada@example.com"],
        oauth_allowed_domains=["Example.org"],
        oauth_allowed_groups=["Eng", "Eng", "ops"],
    )
    spec = pb.McpServer(name="oidc", account_id=KNOWN_ACCOUNT, require_oauth=True, config=config)
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    expected = (["ada@example.com"], ["example.org"], ["Eng", "ops"])  # groups keep their case
    assert _allowed(created.mcp_server.config) == expected
    resolved = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert _allowed(resolved.mcp_server.config) == expected

    server_id = created.mcp_server.id
    only_groups = await tokens.stub.UpdateMcpServer(
        _update(server_id, pb.McpServerConfig(oauth_allowed_groups=["ops"]), "config.oauth_allowed_groups")
    )
    assert _allowed(only_groups.mcp_server.config) == (["ada@example.com"], ["example.org"], ["ops"])
    got = await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=server_id))
    assert _allowed(got.mcp_server.config) == (["ada@example.com"], ["example.org"], ["ops"])
    cleared = await tokens.stub.UpdateMcpServer(
        _update(server_id, pb.McpServerConfig(methods=["read"]), "config")
    )
    assert _allowed(cleared.mcp_server.config) == ([], [], [])  # "config" replaces all of it


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (pb.McpServerConfig(oauth_allowed_emails=["not-an-email"]), "oauth_allowed_emails[0]"),
        (pb.McpServerConfig(oauth_allowed_domains=["@example.com"]), "oauth_allowed_domains[0]"),
        (pb.McpServerConfig(oauth_allowed_domains=["localhost"]), "oauth_allowed_domains[0]"),
        (pb.McpServerConfig(oauth_allowed_groups=["ok", " "]), "oauth_allowed_groups[1]"),
        (pb.McpServerConfig(oauth_allowed_groups=["g"] * 201), "oauth_allowed_groups"),
    ],
)
async def test_malformed_entries_are_refused_naming_the_field(
    make_tokens: MakeTokens, config: pb.McpServerConfig, field: str
) -> None:
    tokens = await make_tokens()
    spec = pb.McpServer(name="bad", account_id=KNOWN_ACCOUNT, require_oauth=True, config=config)
    with pytest.raises(grpc.aio.AioRpcError) as created:
        await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    assert created.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in str(created.value.details()) or field in repr(created.value.trailing_metadata())
    good = await tokens.stub.CreateMcpServer(
        pb.CreateMcpServerRequest(mcp_server=pb.McpServer(name="good", account_id=KNOWN_ACCOUNT))
    )
    mask = "config." + field.split("[")[0]
    with pytest.raises(grpc.aio.AioRpcError) as updated:
        await tokens.stub.UpdateMcpServer(_update(good.mcp_server.id, config, mask))
    assert updated.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_older_sqlite_file_gains_empty_allowed_sets(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.sqlite3")
    conn.row_factory = sqlite3.Row
    conn.execute(
        "CREATE TABLE servers (id TEXT PRIMARY KEY, name TEXT NOT NULL, account_id TEXT NOT NULL, "
        "methods TEXT NOT NULL, tags TEXT NOT NULL, expire_time REAL, "
        "require_api_token_auth INTEGER NOT NULL, create_time REAL NOT NULL, update_time REAL NOT NULL, "
        "last_used_time REAL, token_prefix TEXT NOT NULL)"
    )
    conn.execute(
        "INSERT INTO servers VALUES ('mcp_1', 'old', 'acct', '[]', '[]', NULL, 0, 1.0, 1.0, NULL, 'gmcp_x')"
    )
    migrate(conn)
    record = server_from_row(conn.execute(f"SELECT {SERVER_COLUMNS} FROM servers").fetchone())
    assert record.name == "old"
    assert (record.oauth_allowed_emails, record.oauth_allowed_domains, record.oauth_allowed_groups) == (
        (),
        (),
        (),
    )
