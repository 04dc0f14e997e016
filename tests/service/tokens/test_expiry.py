"""Expiry: records are deleted at expire_time (not merely refused), with an EXPIRED revocation."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest
import redis.asyncio
from google.protobuf import field_mask_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, FakeClock, MakeTokens, record_in_storage, ts

K = pb.RevocationKind


def spec(expire: float) -> pb.McpServer:
    return pb.McpServer(
        name="short-lived",
        account_id=KNOWN_ACCOUNT,
        config=pb.McpServerConfig(methods=["read"]),
        expire_time=ts(expire),
    )


async def watch(stub: object) -> grpc.aio.UnaryStreamCall:
    """Open a revocation stream and wait until it is live (its first, UNSPECIFIED message)."""
    call = stub.WatchRevocations(pb.WatchRevocationsRequest())
    first = await asyncio.wait_for(call.read(), 5)
    assert first.kind == K.REVOCATION_KIND_UNSPECIFIED
    return call


async def test_expired_record_is_never_returned_even_before_the_sweep(make_tokens: MakeTokens) -> None:
    """Past expire_time, Get, Resolve, List, Delete and Rotate refuse it though it is still stored."""
    clock = FakeClock()
    tokens = await make_tokens(clock=clock)
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec(clock() + 120)))
    record_id = created.mcp_server.id
    clock.advance(120)
    calls = [
        tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=record_id)),
        tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token)),
        tokens.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=record_id)),
        tokens.stub.RotateMcpServerToken(pb.RotateMcpServerTokenRequest(id=record_id)),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await tokens.stub.ListMcpServers(pb.ListMcpServersRequest(account_id=KNOWN_ACCOUNT))
    assert list(listed.mcp_servers) == []
    assert await record_in_storage(tokens, record_id)  # the controllable clock has not let the sweep run


async def test_sweep_at_the_due_time_deletes_and_reports_expiry(make_tokens: MakeTokens) -> None:
    """Moving the controllable clock past expire_time makes the scheduler delete it and emit EXPIRED."""
    clock = FakeClock()
    tokens = await make_tokens(clock=clock)
    watcher = await watch(tokens.stub)
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec(clock() + 90)))
    clock.advance(89)
    tokens.service.store.expiry.wake()
    assert await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=created.mcp_server.id))
    clock.advance(1)
    tokens.service.store.expiry.wake()
    event = await asyncio.wait_for(watcher.read(), 5)
    assert (event.kind, event.mcp_server_id) == (K.REVOCATION_KIND_EXPIRED, created.mcp_server.id)
    assert not await record_in_storage(tokens, created.mcp_server.id)
    watcher.cancel()


async def test_real_short_expiry_deletes_the_record_on_time(make_tokens: MakeTokens) -> None:
    """With a 1 s lead and the real clock, EXPIRED comes within 1 s of the due time; the record is gone."""
    tokens = await make_tokens(min_expiry_lead_s=1.0)
    watcher = await watch(tokens.stub)
    due = time.time() + 1.2
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec(due)))
    event = await asyncio.wait_for(watcher.read(), 5)
    arrived = time.time()
    assert (event.kind, event.mcp_server_id) == (K.REVOCATION_KIND_EXPIRED, created.mcp_server.id)
    assert due <= arrived < due + 1.0
    assert not await record_in_storage(tokens, created.mcp_server.id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    watcher.cancel()


async def test_expired_api_token_is_deleted_and_reported(make_tokens: MakeTokens) -> None:
    """An API token past its expiry no longer verifies and its deletion is announced."""
    clock = FakeClock()
    tokens = await make_tokens(clock=clock)
    watcher = await watch(tokens.stub)
    created = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(
            api_token=pb.ApiToken(
                name="temp",
                purposes=[pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MCP_CLIENT],
                expire_time=ts(clock() + 60),
            )
        )
    )
    clock.advance(60)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens.stub.VerifyApiToken(
            pb.VerifyApiTokenRequest(
                token=created.token, purpose=pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MCP_CLIENT
            )
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    tokens.service.store.expiry.wake()
    event = await asyncio.wait_for(watcher.read(), 5)
    assert (event.kind, event.api_token_id) == (K.REVOCATION_KIND_API_TOKEN_REVOKED, created.api_token.id)
    assert list((await tokens.stub.ListApiTokens(pb.ListApiTokensRequest())).api_tokens) == []
    watcher.cancel()


async def test_expiry_survives_a_restart(make_tokens: MakeTokens) -> None:
    """A record stored by one process is still deleted on time by the next one (the schedule is rebuilt)."""
    tokens = await make_tokens(min_expiry_lead_s=1.0)
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec(time.time() + 1.5)))
    await tokens.service.stop(0)
    again = await make_tokens(min_expiry_lead_s=1.0)
    watcher = await watch(again.stub)
    event = await asyncio.wait_for(watcher.read(), 5)
    assert (event.kind, event.mcp_server_id) == (K.REVOCATION_KIND_EXPIRED, created.mcp_server.id)
    assert not await record_in_storage(again, created.mcp_server.id)
    watcher.cancel()


async def test_sweep_keeps_a_record_whose_expiry_was_extended_after_it_was_found_due(
    make_tokens: MakeTokens, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica A's sweep reads the record as due; before it drops it, replica B (whose clock lags a
    little, or whose update began before the due time) extends the expiry. A must keep the record,
    re-index it at the new expiry and report nothing (it used to hard-delete it with EXPIRED)."""
    if backend != "redis":
        pytest.skip("the SQLite sweep is one DELETE ... WHERE expire_time <= now; replicas need Redis")
    start = time.time()
    clock_a, clock_b = FakeClock(), FakeClock()
    clock_a.now = clock_b.now = start
    replica_a, replica_b = await make_tokens(clock=clock_a), await make_tokens(clock=clock_b)
    watcher = await watch(replica_b.stub)
    created = await replica_b.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec(start + 120)))
    record_id = created.mcp_server.id
    extended = start + 7200
    clock_a.advance(121)  # A: past the due time
    clock_b.advance(100)  # B: not yet

    store_a = replica_a.service.store
    read_due = store_a._redis.zrangebyscore  # type: ignore[attr-defined]
    interleaved = asyncio.Event()

    async def due_then_extended(*args: object, **kwargs: object) -> object:
        due = await read_due(*args, **kwargs)
        if due and not interleaved.is_set():
            interleaved.set()
            await replica_b.stub.UpdateMcpServer(
                pb.UpdateMcpServerRequest(
                    mcp_server=pb.McpServer(id=record_id, expire_time=ts(extended)),
                    update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]),
                )
            )
        return due

    monkeypatch.setattr(store_a._redis, "zrangebyscore", due_then_extended)  # type: ignore[attr-defined]
    await store_a.sweep()
    assert interleaved.is_set()
    got = await replica_a.stub.GetMcpServer(pb.GetMcpServerRequest(id=record_id))
    assert abs(got.mcp_server.expire_time.ToNanoseconds() / 1e9 - extended) < 0.001
    assert (await replica_a.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))).mcp_server.id
    client = redis.asyncio.Redis.from_url(replica_a.settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    try:
        member = json.dumps(["srv", record_id, KNOWN_ACCOUNT])
        assert await client.zscore("gmcp:tokens:exp", member) == pytest.approx(extended)
        assert (await client.pexpiretime(f"gmcp:tokens:srv:{record_id}")) == int(extended * 1000)
    finally:
        await client.aclose()
    # The watcher hears the update and then the delete below: no EXPIRED in between.
    await replica_a.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=record_id))
    kinds = [(await asyncio.wait_for(watcher.read(), 5)).kind for _ in range(2)]
    assert kinds == [K.REVOCATION_KIND_UPDATED, K.REVOCATION_KIND_DELETED]
    watcher.cancel()
