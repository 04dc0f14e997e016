"""A server's tool exposure (full / discovery / auto) and context budget: stored, returned, updated
and validated on both stores (see `backend` in conftest); an older SQLite file gains the columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.tokens.sqlite_schema import SERVER_COLUMNS, migrate, server_from_row
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens


def _spec(**config: object) -> pb.McpServer:
    return pb.McpServer(
        name="focused",
        account_id=KNOWN_ACCOUNT,
        config=pb.McpServerConfig(methods=["read"], **config),  # type: ignore[arg-type]
    )


async def test_exposure_and_budget_are_stored_resolved_and_updated(make_tokens: MakeTokens) -> None:
    """Create with auto/5000 -> Get and ResolveToken return them; a mask naming only tool_exposure
    leaves the budget and the scope alone; "config" replaces all of it (back to the defaults)."""
    tokens = await make_tokens()
    created = await tokens.stub.CreateMcpServer(
        pb.CreateMcpServerRequest(mcp_server=_spec(tool_exposure="auto", context_budget_tokens=5000))
    )
    config = created.mcp_server.config
    assert (config.tool_exposure, config.context_budget_tokens) == ("auto", 5000)
    got = await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=created.mcp_server.id))
    assert got.mcp_server.config == config
    resolved = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert resolved.mcp_server.config.tool_exposure == "auto"
    assert resolved.mcp_server.config.context_budget_tokens == 5000

    updated = await tokens.stub.UpdateMcpServer(
        pb.UpdateMcpServerRequest(
            mcp_server=pb.McpServer(
                id=created.mcp_server.id, config=pb.McpServerConfig(tool_exposure="discovery")
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["config.tool_exposure"]),
        )
    )
    assert updated.mcp_server.config.tool_exposure == "discovery"
    assert updated.mcp_server.config.context_budget_tokens == 5000
    assert list(updated.mcp_server.config.methods) == ["read"]
    got = await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=created.mcp_server.id))
    assert got.mcp_server.config == updated.mcp_server.config

    replaced = await tokens.stub.UpdateMcpServer(
        pb.UpdateMcpServerRequest(
            mcp_server=pb.McpServer(id=created.mcp_server.id, config=pb.McpServerConfig(methods=["read"])),
            update_mask=field_mask_pb2.FieldMask(paths=["config"]),
        )
    )
    assert (replaced.mcp_server.config.tool_exposure, replaced.mcp_server.config.context_budget_tokens) == (
        "",
        0,
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"tool_exposure": "everything"}, "mcp_server.config.tool_exposure"),
        ({"context_budget_tokens": 10}, "mcp_server.config.context_budget_tokens"),
        ({"context_budget_tokens": 2_000_000}, "mcp_server.config.context_budget_tokens"),
    ],
)
async def test_bad_exposure_or_budget_is_refused(
    make_tokens: MakeTokens, config: dict[str, object], field: str
) -> None:
    """An unknown exposure or a budget out of bounds is INVALID_ARGUMENT naming the field."""
    tokens = await make_tokens()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=_spec(**config)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.value.details() or "")


def test_an_older_sqlite_file_gains_the_columns_with_defaults(tmp_path: Path) -> None:
    """A servers table from before tool_exposure existed keeps its rows, read back as the defaults."""
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
    migrate(conn)  # idempotent
    record = server_from_row(conn.execute(f"SELECT {SERVER_COLUMNS} FROM servers").fetchone())
    assert (record.name, record.tool_exposure, record.context_budget_tokens) == ("old", "", 0)
