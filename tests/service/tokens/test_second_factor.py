"""A server's second factor: `require_oauth` is stored, resolved and updated on both stores (see
`backend` in conftest), never together with `require_api_token_auth`; an older SQLite file gains it."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens, OldServerRecord


def _spec(**fields: bool) -> pb.McpServer:
    return pb.McpServer(name="signed in", account_id=KNOWN_ACCOUNT, **fields)  # type: ignore[arg-type]


async def test_require_oauth_is_stored_resolved_and_switched_off(make_tokens: MakeTokens) -> None:
    tokens = await make_tokens()
    created = await tokens.stub.CreateMcpServer(
        pb.CreateMcpServerRequest(mcp_server=_spec(require_oauth=True))
    )
    assert created.mcp_server.require_oauth and not created.mcp_server.require_api_token_auth
    resolved = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert resolved.mcp_server.require_oauth
    switched = await tokens.stub.UpdateMcpServer(
        pb.UpdateMcpServerRequest(
            mcp_server=pb.McpServer(id=created.mcp_server.id, require_api_token_auth=True),
            update_mask=field_mask_pb2.FieldMask(paths=["require_api_token_auth", "require_oauth"]),
        )
    )
    assert switched.mcp_server.require_api_token_auth and not switched.mcp_server.require_oauth
    got = await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=created.mcp_server.id))
    assert got.mcp_server == switched.mcp_server


async def test_both_second_factors_at_once_are_refused(make_tokens: MakeTokens) -> None:
    tokens = await make_tokens()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await tokens.stub.CreateMcpServer(
            pb.CreateMcpServerRequest(mcp_server=_spec(require_oauth=True, require_api_token_auth=True))
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "require_oauth" in (refused.value.details() or "")
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=_spec()))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await tokens.stub.UpdateMcpServer(
            pb.UpdateMcpServerRequest(
                mcp_server=pb.McpServer(
                    id=created.mcp_server.id, require_api_token_auth=True, require_oauth=True
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["require_api_token_auth", "require_oauth"]),
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_older_sqlite_file_gains_require_oauth_off(old_server_record: OldServerRecord) -> None:
    record = old_server_record(require_api_token_auth=True)
    assert (record.name, record.require_api_token_auth, record.require_oauth) == ("old", True, False)
