"""config.audit_payloads (the façade's audit trail keeps arguments and results): off by default,
stored, resolved, updated alone or with the config, on both stores; an older SQLite file gains it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from google.protobuf import field_mask_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.tokens.sqlite_schema import SERVER_COLUMNS, migrate, server_from_row
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens


def _update(server_id: str, config: pb.McpServerConfig, path: str) -> pb.UpdateMcpServerRequest:
    return pb.UpdateMcpServerRequest(
        mcp_server=pb.McpServer(id=server_id, config=config),
        update_mask=field_mask_pb2.FieldMask(paths=[path]),
    )


async def test_audit_payloads_is_off_by_default_stored_resolved_and_updated(make_tokens: MakeTokens) -> None:
    tokens = await make_tokens()
    spec = pb.McpServer(name="plain", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))
    plain = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    assert plain.mcp_server.config.audit_payloads is False

    spec.config.audit_payloads = True
    opted = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    assert opted.mcp_server.config.audit_payloads is True
    resolved = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=opted.token))
    assert resolved.mcp_server.config.audit_payloads is True

    server_id = plain.mcp_server.id
    on = await tokens.stub.UpdateMcpServer(
        _update(server_id, pb.McpServerConfig(audit_payloads=True), "config.audit_payloads")
    )
    assert on.mcp_server.config.audit_payloads is True
    assert list(on.mcp_server.config.methods) == ["read"]  # the rest of the config is left alone
    got = await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=server_id))
    assert got.mcp_server.config.audit_payloads is True
    off = await tokens.stub.UpdateMcpServer(
        _update(server_id, pb.McpServerConfig(methods=["read"]), "config")
    )
    assert off.mcp_server.config.audit_payloads is False  # "config" replaces all of it


def test_an_older_sqlite_file_gains_audit_payloads_off(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.sqlite3")
    conn.row_factory = sqlite3.Row
    conn.execute(
        "CREATE TABLE servers (id TEXT PRIMARY KEY, name TEXT NOT NULL, account_id TEXT NOT NULL, "
        "methods TEXT NOT NULL, tags TEXT NOT NULL, expire_time REAL, "
        "require_api_token_auth INTEGER NOT NULL, create_time REAL NOT NULL, update_time REAL NOT NULL, "
        "last_used_time REAL, token_prefix TEXT NOT NULL, tool_exposure TEXT NOT NULL DEFAULT '', "
        "context_budget_tokens INTEGER NOT NULL DEFAULT 0)"
    )
    conn.execute(
        "INSERT INTO servers VALUES "
        "('mcp_1', 'old', 'acct', '[]', '[]', NULL, 0, 1.0, 1.0, NULL, 'gmcp_x', '', 0)"
    )
    migrate(conn)
    record = server_from_row(conn.execute(f"SELECT {SERVER_COLUMNS} FROM servers").fetchone())
    assert (record.name, record.audit_payloads) == ("old", False)
