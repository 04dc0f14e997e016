"""config.audit_payloads (the façade's audit trail keeps arguments and results): off by default,
stored, resolved, updated alone or with the config, on both stores; an older SQLite file gains it."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens, OldServerRecord


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


def test_an_older_sqlite_file_gains_audit_payloads_off(old_server_record: OldServerRecord) -> None:
    record = old_server_record()
    assert (record.name, record.audit_payloads) == ("old", False)
