"""Dependencies down: the proxy or Redis unreachable gives UNAVAILABLE with a clear message; health serves."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gumloop_mcp.runtime import TokenKind, generate_token
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc
from services.tokens.server import create_server
from services.tokens.settings import TokenSettings
from tests.conftest import find_redis_server, start_redis, stop_redis
from tests.service.tokens.conftest import KNOWN_ACCOUNT, PEPPER, FakeProxy, MakeTokens


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


SPEC = pb.McpServer(name="s", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))


async def test_unreachable_proxy_gives_unavailable_but_resolution_keeps_working(
    make_tokens: MakeTokens,
) -> None:
    """Creating needs the proxy (UNAVAILABLE naming it); resolving a stored token does not."""
    healthy = await make_tokens()
    created = await healthy.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=SPEC))
    await healthy.service.stop(0)
    target = f"127.0.0.1:{closed_port()}"
    tokens = await make_tokens(proxy_target=target, proxy_timeout_s=1.0)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=SPEC))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "proxy" in (err.value.details() or "")
    assert (await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))).mcp_server.id


async def test_refused_redis_gives_unavailable_with_a_clear_message(
    fake_proxy: tuple[FakeProxy, str], tmp_path: Path
) -> None:
    """With Redis refused, calls and watches answer UNAVAILABLE naming the store; typos still NOT_FOUND."""
    settings = TokenSettings(
        grpc_port=0,
        store="redis",
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        pepper=PEPPER,
        proxy_target=fake_proxy[1],
        data_dir=tmp_path,
    )
    service = await create_server(settings)
    await service.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = pb_grpc.TokenServiceStub(channel)
        calls = [
            stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=SPEC)),
            stub.GetMcpServer(pb.GetMcpServerRequest(id="mcp_x")),
            stub.ListMcpServers(pb.ListMcpServersRequest(account_id=KNOWN_ACCOUNT)),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "Redis" in (err.value.details() or "")
        watch = stub.WatchRevocations(pb.WatchRevocationsRequest())
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await watch.read()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        # A well-formed token needs the store; a mistyped one is refused by its checksum alone.
        well_formed = generate_token(TokenKind.MCP_URL)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ResolveToken(pb.ResolveTokenRequest(token=well_formed))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        typo = well_formed[:-1] + ("x" if well_formed[-1] != "x" else "y")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ResolveToken(pb.ResolveTokenRequest(token=typo))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    await service.stop(0)


async def test_health_reports_serving_for_the_token_service(make_tokens: MakeTokens) -> None:
    """gRPC health answers SERVING for the overall server and for TokenService."""
    tokens = await make_tokens()
    health = health_pb2_grpc.HealthStub(tokens.channel)
    for name in ("", "gumloop_mcp.tokens.v1.TokenService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_redis_outage_cuts_watches_and_recovers_when_redis_returns(
    fake_proxy: tuple[FakeProxy, str], tmp_path: Path
) -> None:
    """Killing Redis ends open watches and fails calls with UNAVAILABLE; once it is back, both work again."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found (run scripts/ensure-redis)")
    proc, port = start_redis(binary, str(tmp_path))
    settings = TokenSettings(
        grpc_port=0,
        store="redis",
        redis_url=f"redis://127.0.0.1:{port}/0",
        pepper=PEPPER,
        proxy_target=fake_proxy[1],
        data_dir=tmp_path,
    )
    service = await create_server(settings)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = pb_grpc.TokenServiceStub(channel)
            created = await stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=SPEC))
            watch = stub.WatchRevocations(pb.WatchRevocationsRequest())
            await asyncio.wait_for(watch.read(), 5)
            stop_redis(proc)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(watch.read(), 5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            proc, _ = start_redis(binary, str(tmp_path), port)
            # Data is gone (no persistence), but the service serves again without a restart.
            again = await asyncio.wait_for(_retry_create(stub), 10)
            assert again.mcp_server.id
            watch = await asyncio.wait_for(_retry_watch(stub), 10)
            await stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=again.mcp_server.id))
            event = await asyncio.wait_for(watch.read(), 5)
            assert (event.kind, event.mcp_server_id) == (pb.REVOCATION_KIND_DELETED, again.mcp_server.id)
            watch.cancel()
    finally:
        await service.stop(0)
        stop_redis(proc)


async def _retry_create(stub: pb_grpc.TokenServiceStub) -> pb.CreateMcpServerResponse:
    """Create until the store answers again (the Redis pool reconnects on the next call)."""
    while True:
        try:
            return await stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=SPEC))
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.sleep(0.1)


async def _retry_watch(stub: pb_grpc.TokenServiceStub) -> grpc.aio.UnaryStreamCall:
    """Open a watch until the feed is live again (until then it is refused with UNAVAILABLE)."""
    while True:
        watch = stub.WatchRevocations(pb.WatchRevocationsRequest())
        try:
            first = await watch.read()
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.sleep(0.1)
            continue
        assert first.kind == pb.REVOCATION_KIND_UNSPECIFIED
        return watch
