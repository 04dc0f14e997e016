"""Revocation fan-out: every watcher (of every replica sharing a Redis) hears every change."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import field_mask_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens

K = pb.RevocationKind


async def watch(stub: object) -> grpc.aio.UnaryStreamCall:
    """Open a revocation stream and wait until it is live (its first, UNSPECIFIED message)."""
    call = stub.WatchRevocations(pb.WatchRevocationsRequest())  # type: ignore[attr-defined]
    first = await asyncio.wait_for(call.read(), 5)
    assert first.kind == K.REVOCATION_KIND_UNSPECIFIED and not first.mcp_server_id
    return call


async def next_event(call: grpc.aio.UnaryStreamCall) -> tuple[int, str, str]:
    """The next event as (kind, mcp_server_id, api_token_id), within one second."""
    event = await asyncio.wait_for(call.read(), 1.0)
    return event.kind, event.mcp_server_id, event.api_token_id


async def test_two_watchers_both_hear_update_rotate_delete_and_api_revoke(make_tokens: MakeTokens) -> None:
    """Each change reaches both watchers, in order, within a second."""
    tokens = await make_tokens()
    watchers = [await watch(tokens.stub), await watch(tokens.stub)]
    created = await tokens.stub.CreateMcpServer(
        pb.CreateMcpServerRequest(
            mcp_server=pb.McpServer(
                name="w", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"])
            )
        )
    )
    server_id = created.mcp_server.id
    api = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(
            api_token=pb.ApiToken(name="a", purposes=[pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MANAGEMENT])
        )
    )
    await tokens.stub.UpdateMcpServer(
        pb.UpdateMcpServerRequest(
            mcp_server=pb.McpServer(id=server_id, require_api_token_auth=True),
            update_mask=field_mask_pb2.FieldMask(paths=["require_api_token_auth"]),
        )
    )
    await tokens.stub.RotateMcpServerToken(pb.RotateMcpServerTokenRequest(id=server_id))
    await tokens.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=server_id))
    await tokens.stub.RevokeApiToken(pb.RevokeApiTokenRequest(id=api.api_token.id))
    expected = [
        (K.REVOCATION_KIND_UPDATED, server_id, ""),
        (K.REVOCATION_KIND_ROTATED, server_id, ""),
        (K.REVOCATION_KIND_DELETED, server_id, ""),
        (K.REVOCATION_KIND_API_TOKEN_REVOKED, "", api.api_token.id),
    ]
    assert tokens.service.hub.subscriber_count == 2
    for watcher in watchers:
        assert [await next_event(watcher) for _ in expected] == expected
        watcher.cancel()
    # Cancelled watches must not leave subscriptions behind.
    async with asyncio.timeout(2):
        while tokens.service.hub.subscriber_count:
            await asyncio.sleep(0.01)


async def test_replicas_sharing_redis_notify_each_others_watchers(
    make_tokens: MakeTokens, backend: str
) -> None:
    """A delete on replica A reaches a watcher on replica B, and B's expiry sweep reaches A's watcher."""
    if backend != "redis":
        pytest.skip("replicas share state only through Redis")
    first = await make_tokens()
    second = await make_tokens()
    watch_first, watch_second = await watch(first.stub), await watch(second.stub)
    spec = pb.McpServer(name="x", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))
    created = await first.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    resolved = await second.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert resolved.mcp_server.id == created.mcp_server.id
    await first.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=created.mcp_server.id))
    expected = (K.REVOCATION_KIND_DELETED, created.mcp_server.id, "")
    assert await next_event(watch_first) == expected
    assert await next_event(watch_second) == expected
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await second.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    watch_first.cancel()
    watch_second.cancel()


async def test_watch_streams_end_with_unavailable_on_shutdown(make_tokens: MakeTokens) -> None:
    """Stopping the service ends open watches promptly with UNAVAILABLE, so clients re-watch elsewhere."""
    tokens = await make_tokens()
    watcher = await watch(tokens.stub)
    await asyncio.wait_for(tokens.service.stop(5.0), 3.0)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(watcher.read(), 3.0)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
