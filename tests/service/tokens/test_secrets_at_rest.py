"""Only keyed hashes are stored: no raw token in the SQLite file or in any Redis key or value."""

from __future__ import annotations

import logging

import grpc
import pytest
from google.protobuf import duration_pb2

from gumloop_mcp.runtime import hash_token
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, PEPPER, MakeTokens, storage_dump


async def test_no_raw_token_reaches_storage(make_tokens: MakeTokens) -> None:
    """URL tokens (current and in grace) and API tokens appear in storage only as their HMAC."""
    tokens = await make_tokens()
    spec = pb.McpServer(name="s", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    rotated = await tokens.stub.RotateMcpServerToken(
        pb.RotateMcpServerTokenRequest(
            id=created.mcp_server.id, grace_period=duration_pb2.Duration(seconds=600)
        )
    )
    api = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(
            api_token=pb.ApiToken(name="a", purposes=[pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MCP_CLIENT])
        )
    )
    raw_tokens = [created.token, rotated.token, api.token]
    for token in raw_tokens[:2]:
        await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=token))
    dump = await storage_dump(tokens)
    for token in raw_tokens:
        body = token.split("_")[1]
        assert token.encode() not in dump
        assert body.encode() not in dump
        # The dump really holds the store's content: the keyed hash of every token is there.
        assert hash_token(token, PEPPER.encode()).encode() in dump


async def test_no_raw_token_reaches_the_logs(
    make_tokens: MakeTokens, caplog: pytest.LogCaptureFixture
) -> None:
    """Creating, rotating, resolving and verifying log nothing that contains a raw token."""
    caplog.set_level(logging.DEBUG)
    tokens = await make_tokens()
    spec = pb.McpServer(name="s", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    rotated = await tokens.stub.RotateMcpServerToken(pb.RotateMcpServerTokenRequest(id=created.mcp_server.id))
    await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=rotated.token))
    with pytest.raises(grpc.aio.AioRpcError):
        await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    api = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(
            api_token=pb.ApiToken(name="a", purposes=[pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MCP_CLIENT])
        )
    )
    await tokens.stub.VerifyApiToken(
        pb.VerifyApiTokenRequest(token=api.token, purpose=pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MCP_CLIENT)
    )
    assert "created mcp server" in caplog.text  # the service did log; the tokens are just not in it
    for token in (created.token, rotated.token, api.token):
        assert token.split("_")[1] not in caplog.text
