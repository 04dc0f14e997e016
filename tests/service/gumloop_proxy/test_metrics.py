"""The proxy's /metrics after real traffic: gRPC calls by method and code, upstream requests, 429s, retries,
and no credential, caller token or account id anywhere in the text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import create_channel
from services.gumloop_proxy.server import ProxyServer, create_server, serve
from services.gumloop_proxy.settings import ProxySettings

from .conftest import create_account, invoke

CALLER_TOKEN = "facade-caller-token-5f1e9a7c3b2d4e60"
SERVICE = "gumloop_mcp.proxy.v1.ProxyService"


def rpc(method: str) -> dict[str, str]:
    """The go-grpc-prometheus labels of one of the service's methods (grpc_code added by the caller)."""
    kind = "server_stream" if method in ("WatchRevocations", "StreamOperation") else "unary"
    return {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method}


async def _inject(emulator: Any, path: str, *, status: int, count: int) -> None:
    prefix = urlsplit(emulator.api_base_url).path + path
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{emulator.base_url}/__emulator/faults",
            json={"match": {"path_prefix": prefix}, "kind": "status", "status": status, "count": count},
        )
        response.raise_for_status()


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        return await response.text()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(parsed: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return parsed.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def secured_proxy(tmp_path: Path) -> AsyncIterator[ProxyServer]:
    settings = ProxySettings(
        host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        data_dir=tmp_path,
        store="sqlite",
        log_json=False,
        caller_tokens=f"facade={CALLER_TOKEN}",
    )
    server = await create_server(settings)
    async with server:
        yield server


async def test_metrics_count_calls_upstream_requests_429s_and_retries_and_show_no_secret(
    secured_proxy: ProxyServer, emulator: Any
) -> None:
    assert set(secured_proxy.ports) == {"grpc", "metrics"} and secured_proxy.ports["metrics"] > 0
    target = f"127.0.0.1:{secured_proxy.port}"
    async with (
        create_channel(target, caller_token=CALLER_TOKEN) as channel,
        grpc.aio.insecure_channel(target) as bare_channel,
    ):
        stub = pb_grpc.ProxyServiceStub(channel)
        bare = pb_grpc.ProxyServiceStub(bare_channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # no caller token
            await bare.ListOperations(pb.ListOperationsRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

        account = await create_account(stub, emulator)
        for _ in range(2):
            await invoke(stub, account.id, "list_teams")
        await _inject(emulator, "/teams", status=429, count=1)
        with pytest.raises(grpc.aio.AioRpcError) as limited:
            await invoke(stub, account.id, "list_teams")
        assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await _inject(emulator, "/teams", status=503, count=1)
        await invoke(stub, account.id, "list_teams")  # a 503, retried, then 200
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await invoke(stub, account.id, "an_operation_made_up_by_the_caller")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    handled = "grpc_server_handled_total"
    # the server records a call after the handler returns; an abort sends its status first
    for _ in range(100):
        text = await scrape(secured_proxy.ports["metrics"])
        parsed = samples(text)
        if value(parsed, handled, **rpc("InvokeOperation"), grpc_code="NOT_FOUND") is not None:
            break
        await asyncio.sleep(0.02)
    assert value(parsed, handled, **rpc("InvokeOperation"), grpc_code="OK") == 3
    assert value(parsed, handled, **rpc("InvokeOperation"), grpc_code="RESOURCE_EXHAUSTED") == 1
    assert value(parsed, handled, **rpc("InvokeOperation"), grpc_code="NOT_FOUND") == 1
    assert value(parsed, handled, **rpc("CreateIntegratedAccount"), grpc_code="OK") == 1
    assert value(parsed, handled, **rpc("ListOperations"), grpc_code="UNAUTHENTICATED") == 1
    # every InvokeOperation: 3 OK, 1 RESOURCE_EXHAUSTED, 1 NOT_FOUND (the histogram has no code label)
    assert value(parsed, "grpc_server_handling_seconds_count", **rpc("InvokeOperation")) == 5
    assert value(parsed, "grpc_server_started_total", **rpc("InvokeOperation")) == 5
    upstream = "gmcp_proxy_upstream_requests_total"
    assert value(parsed, upstream, operation="list_teams", status="200") == 3
    assert value(parsed, upstream, operation="list_teams", status="429") == 1
    assert value(parsed, upstream, operation="list_teams", status="503") == 1
    assert value(parsed, "gmcp_proxy_upstream_request_seconds_count", operation="list_teams") == 5
    assert value(parsed, "gmcp_proxy_upstream_rate_limited_total", operation="list_teams") == 1
    assert value(parsed, "gmcp_proxy_upstream_retries_total", operation="list_teams") == 1

    # Secrets and caller-chosen or per-account values never appear.
    for secret in (emulator.api_key, CALLER_TOKEN, account.id, emulator.user_id, "an_operation_made_up"):
        assert secret not in text, secret
    assert "authorization" not in text.lower() and "bearer" not in text.lower()
    operations = {labels.get("operation") for (_, frozen) in parsed for labels in [dict(frozen)]}
    assert operations <= {None, "list_teams"}


async def test_the_default_proxy_serves_metrics_and_minus_one_turns_them_off(
    proxy: ProxyServer, stub: pb_grpc.ProxyServiceStub, emulator: Any, tmp_path: Path
) -> None:
    account = await create_account(stub, emulator)
    await invoke(stub, account.id, "list_teams")
    parsed = samples(await scrape(proxy.ports["metrics"]))
    assert value(parsed, "gmcp_proxy_upstream_requests_total", operation="list_teams", status="200") == 1

    off = await create_server(
        ProxySettings(
            host="127.0.0.1", grpc_port=0, metrics_port=-1, data_dir=tmp_path / "off", log_json=False
        )
    )
    async with off:
        assert off.ports == {"grpc": off.port}


async def test_serve_reports_the_metrics_port_and_closes_it_on_stop(tmp_path: Path) -> None:
    settings = ProxySettings(host="127.0.0.1", grpc_port=0, metrics_port=0, data_dir=tmp_path, log_json=False)
    stop = asyncio.Event()
    ready: list[dict[str, int]] = []
    task = asyncio.create_task(serve(settings, stop=stop, on_ready=ready.append))
    for _ in range(200):
        if ready:
            break
        await asyncio.sleep(0.05)
    assert ready and set(ready[0]) == {"grpc", "metrics"}
    assert "grpc_server_handled_total" in await scrape(ready[0]["metrics"])
    stop.set()
    await asyncio.wait_for(task, 15)
    with pytest.raises(aiohttp.ClientConnectionError):
        await scrape(ready[0]["metrics"])
