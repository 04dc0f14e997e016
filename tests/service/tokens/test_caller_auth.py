"""Caller tokens on the real token service: refused without one, served with one, sent to the proxy."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as proxy_grpc
from gumloop_mcp.runtime import CallerTokens, configure, create_channel, create_grpc_server, start_serving
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc
from services.tokens.server import TokenServer, create_server
from services.tokens.settings import TokenSettings
from tests.service.tokens.conftest import KNOWN_ACCOUNT, PEPPER, FakeProxy

FACADE_TOKEN = "facade-to-tokens-0123456789abcdef"
TOKENS_TO_PROXY = "tokens-to-proxy-0123456789abcdef"
SPEC = pb.McpServer(name="s", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))


@pytest.fixture
async def guarded_proxy() -> AsyncIterator[str]:
    """The fake proxy behind the shared server wiring, accepting only the caller `tokens`."""
    server, port, health = create_grpc_server(
        lambda s: proxy_grpc.add_ProxyServiceServicer_to_server(FakeProxy(), s),
        ["gumloop_mcp.proxy.v1.ProxyService"],
        host="127.0.0.1",
        port=0,
        caller_tokens=CallerTokens.parse(f"tokens={TOKENS_TO_PROXY}"),
    )
    await start_serving(server, health)
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def _tokens(tmp_path: Path, proxy_target: str, **overrides: str) -> TokenServer:
    settings = TokenSettings(
        host="127.0.0.1",
        grpc_port=0,
        pepper=PEPPER,
        data_dir=tmp_path,
        proxy_target=proxy_target,
        caller_tokens=f"facade={FACADE_TOKEN}",  # type: ignore[arg-type]
        **overrides,  # type: ignore[arg-type]
    )
    return await create_server(settings)


async def test_a_call_without_a_caller_token_is_unauthenticated_and_with_one_it_works(
    tmp_path: Path, guarded_proxy: str
) -> None:
    """ResolveToken and CreateMcpServer are refused without the token; the health check is not."""
    service = await _tokens(tmp_path, guarded_proxy, proxy_caller_token=TOKENS_TO_PROXY)
    async with service:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as bare:
            stub = pb_grpc.TokenServiceStub(bare)
            for call in (
                stub.ResolveToken(pb.ResolveTokenRequest(token="gmcp_" + "a" * 40)),
                stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=SPEC)),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "requires a caller token" in (refused.value.details() or "")
            health = await health_pb2_grpc.HealthStub(bare).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        async with create_channel(
            f"127.0.0.1:{service.port}", caller_token="wrong-0123456789abcdef"
        ) as wrong:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.TokenServiceStub(wrong).ResolveToken(pb.ResolveTokenRequest(token="x"))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "wrong-0123456789abcdef" not in (refused.value.details() or "")
        async with create_channel(f"127.0.0.1:{service.port}", caller_token=FACADE_TOKEN) as channel:
            stub = pb_grpc.TokenServiceStub(channel)
            # Validated against the guarded proxy: the token service sent its own caller token.
            created = await stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=SPEC))
            resolved = await stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
            assert resolved.mcp_server.id == created.mcp_server.id
            # A server-streaming RPC carries the token too (the client interceptor covers streams).
            watch = stub.WatchRevocations(pb.WatchRevocationsRequest())
            await stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=created.mcp_server.id))
            async for _event in watch:
                break
            watch.cancel()


async def test_without_its_proxy_caller_token_the_token_service_is_refused_by_the_proxy(
    tmp_path: Path, guarded_proxy: str
) -> None:
    """Scope validation fails UNAVAILABLE naming the proxy's UNAUTHENTICATED answer, not a crash."""
    service = await _tokens(tmp_path, guarded_proxy, proxy_timeout_s="2")
    async with service, create_channel(f"127.0.0.1:{service.port}", caller_token=FACADE_TOKEN) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.TokenServiceStub(channel).CreateMcpServer(
                pb.CreateMcpServerRequest(mcp_server=SPEC)
            )
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "UNAUTHENTICATED" in (refused.value.details() or "")


async def test_the_caller_name_is_in_the_service_log_lines_and_the_token_is_not(
    tmp_path: Path, guarded_proxy: str
) -> None:
    """A served call's log lines carry caller=facade; no line contains a caller token."""
    stream = io.StringIO()
    configure("DEBUG", json_format=True, stream=stream, batch_s=0)
    try:
        service = await _tokens(tmp_path, guarded_proxy, proxy_caller_token=TOKENS_TO_PROXY)
        async with service, create_channel(f"127.0.0.1:{service.port}", caller_token=FACADE_TOKEN) as channel:
            stub = pb_grpc.TokenServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetMcpServer(
                    pb.GetMcpServerRequest(id="mcp_missing"), metadata=(("x-request-id", "r-1"),)
                )
            async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as bare:
                with pytest.raises(grpc.aio.AioRpcError):
                    await pb_grpc.TokenServiceStub(bare).GetMcpServer(
                        pb.GetMcpServerRequest(id="mcp_x"),
                        metadata=(("authorization", "Bearer not-a-caller-0123456789abcdef"),),
                    )
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
        logging.getLogger().handlers.clear()
    output = stream.getvalue()
    for secret in (FACADE_TOKEN, TOKENS_TO_PROXY, "not-a-caller-0123456789abcdef"):
        assert secret not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line.get("caller") == "facade" and line.get("request_id") == "r-1" for line in lines), lines
    assert any("refused" in line["message"] and "unknown caller token" in line["message"] for line in lines)
