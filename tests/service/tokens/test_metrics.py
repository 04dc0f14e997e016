"""The token service's /metrics after real traffic: gRPC calls by method and code, resolve outcomes, open
watches, store errors, and no token, pepper or caller token anywhere in the text."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gumloop_mcp.runtime import TokenKind, create_channel, generate_token
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc
from services.tokens.server import create_server, serve
from services.tokens.settings import TokenSettings
from tests.service.tokens.conftest import KNOWN_ACCOUNT, PEPPER, FakeProxy, MakeTokens

SERVICE = "gumloop_mcp.tokens.v1.TokenService"


def rpc(method: str) -> dict[str, str]:
    """The go-grpc-prometheus labels of one of the service's methods (grpc_code added by the caller)."""
    kind = "server_stream" if method in ("WatchRevocations", "StreamOperation") else "unary"
    return {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method}


CALLER_TOKEN = "facade-to-tokens-caller-9c4e2a7f1b3d5068"
SPEC = pb.McpServer(name="s", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        return await response.text()


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(parsed: Samples, name: str, **labels: str) -> float | None:
    return parsed.get((name, frozenset(labels.items())))


async def test_metrics_count_resolves_watches_and_calls_and_show_no_token(make_tokens: MakeTokens) -> None:
    tokens = await make_tokens(metrics_port=0, caller_tokens=f"facade={CALLER_TOKEN}")
    port = tokens.service.ports["metrics"]
    async with create_channel(f"127.0.0.1:{tokens.service.port}", caller_token=CALLER_TOKEN) as channel:
        stub = pb_grpc.TokenServiceStub(channel)
        created = await stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=SPEC), timeout=10)
        for _ in range(2):
            await stub.ResolveToken(pb.ResolveTokenRequest(token=created.token), timeout=5)
        unknown = generate_token(TokenKind.MCP_URL)
        typo = created.token[:-1] + ("Z" if created.token[-1] != "Z" else "Y")
        for token in (unknown, "gmcp_not-a-token", typo):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ResolveToken(pb.ResolveTokenRequest(token=token), timeout=5)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND

        watch = stub.WatchRevocations(pb.WatchRevocationsRequest())
        await asyncio.wait_for(watch.read(), 5)  # the live marker: subscribed
        during = samples(await scrape(port))
        assert value(during, "gmcp_tokens_revocation_watchers") == 1
        assert value(during, "grpc_server_handled_total", **rpc("WatchRevocations"),
                     grpc_code="CANCELLED") is None  # fmt: skip
        watch.cancel()
        for _ in range(100):
            after = samples(await scrape(port))
            if value(after, "gmcp_tokens_revocation_watchers") == 0:
                break
            await asyncio.sleep(0.02)
        text = await scrape(port)

    parsed = samples(text)
    assert value(parsed, "gmcp_tokens_revocation_watchers") == 0
    handled = "grpc_server_handled_total"
    assert value(parsed, handled, **rpc("CreateMcpServer"), grpc_code="OK") == 1
    assert value(parsed, handled, **rpc("ResolveToken"), grpc_code="OK") == 2
    assert value(parsed, handled, **rpc("ResolveToken"), grpc_code="NOT_FOUND") == 3
    assert value(parsed, handled, **rpc("WatchRevocations"), grpc_code="CANCELLED") == 1
    # the token service's own calls to the proxy (the catalog, to check the server's scope)
    to_proxy = [
        v
        for (name, labels), v in parsed.items()
        if name == "grpc_client_handled_total"
        and dict(labels).get("grpc_service") == "gumloop_mcp.proxy.v1.ProxyService"
        and dict(labels).get("grpc_code") == "OK"
    ]
    assert to_proxy and sum(to_proxy) >= 1
    resolves = "gmcp_tokens_resolve_total"
    assert value(parsed, resolves, outcome="ok") == 2
    # unknown (well formed, not stored) -> not_found; a bad format or checksum -> malformed
    assert value(parsed, resolves, outcome="not_found") == 1
    assert value(parsed, resolves, outcome="malformed") == 2
    assert value(parsed, "gmcp_tokens_store_errors_total", method="ResolveToken") is None

    for secret in (created.token, created.token[:-1], unknown, PEPPER, CALLER_TOKEN, created.mcp_server.id):
        assert secret not in text, secret
    assert "gmcp_" not in text.replace("gmcp_tokens_", "")  # no token prefix
    assert value(parsed, "process_open_fds") and value(parsed, "process_resident_memory_bytes")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_store_errors_are_counted_by_rpc(fake_proxy: tuple[FakeProxy, str], tmp_path: Path) -> None:
    settings = TokenSettings(
        host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        store="redis",
        redis_url=f"redis://127.0.0.1:{_closed_port()}/0",
        pepper=PEPPER,
        proxy_target=fake_proxy[1],
        data_dir=tmp_path,
    )
    service = await create_server(settings)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = pb_grpc.TokenServiceStub(channel)
            for _ in range(2):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.ResolveToken(
                        pb.ResolveTokenRequest(token=generate_token(TokenKind.MCP_URL)), timeout=10
                    )
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        parsed = samples(await scrape(service.ports["metrics"]))
    finally:
        await service.stop(0)
    assert value(parsed, "gmcp_tokens_store_errors_total", method="ResolveToken") == 2
    assert (
        value(
            parsed,
            "grpc_server_handled_total",
            **rpc("ResolveToken"),
            grpc_code="UNAVAILABLE",
        )
        == 2
    )
    assert value(parsed, "gmcp_tokens_resolve_total", outcome="ok") == 0


async def test_serve_reports_the_metrics_port_and_minus_one_turns_it_off(
    fake_proxy: tuple[FakeProxy, str], tmp_path: Path
) -> None:
    for metrics_port, expected in ((0, {"grpc", "metrics"}), (-1, {"grpc"})):
        settings = TokenSettings(
            host="127.0.0.1",
            grpc_port=0,
            metrics_port=metrics_port,
            pepper=PEPPER,
            proxy_target=fake_proxy[1],
            data_dir=tmp_path / str(metrics_port),
        )
        stop = asyncio.Event()
        ready: list[dict[str, int]] = []
        task = asyncio.create_task(serve(settings, stop=stop, on_ready=ready.append))
        for _ in range(200):
            if ready:
                break
            await asyncio.sleep(0.05)
        assert ready and set(ready[0]) == expected
        if "metrics" in expected:
            assert "gmcp_tokens_resolve_total" in await scrape(ready[0]["metrics"])
        stop.set()
        await asyncio.wait_for(task, 15)
        if "metrics" in expected:
            with pytest.raises(aiohttp.ClientConnectionError):
                await scrape(ready[0]["metrics"])
