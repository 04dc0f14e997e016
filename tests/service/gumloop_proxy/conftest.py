"""Infrastructure for proxy service tests: the real emulator, the real proxy on loopback, an account."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gumloop_mcp.emulator import EmulatorSettings, start_emulator
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from services.gumloop_proxy.server import ProxyServer, create_server
from services.gumloop_proxy.settings import ProxySettings


@pytest.fixture
async def emulator() -> AsyncIterator[Any]:
    """The bundled Gumloop emulator on a free loopback port, fast clock."""
    running = await start_emulator(EmulatorSettings(host="127.0.0.1", port=0, time_scale=0.01))
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
def proxy_settings(tmp_path: Path) -> ProxySettings:
    """Proxy settings: loopback, free port, SQLite store in a temporary directory."""
    return ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path, store="sqlite", log_json=False)


@pytest.fixture
async def proxy(proxy_settings: ProxySettings) -> AsyncIterator[ProxyServer]:
    """The real proxy gRPC server, started."""
    server = await create_server(proxy_settings)
    async with server:
        yield server


@pytest.fixture
async def stub(proxy: ProxyServer) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    """A client stub on a channel to the proxy."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
        yield pb_grpc.ProxyServiceStub(channel)


async def create_account(
    stub: pb_grpc.ProxyServiceStub, emulator: Any, *, secret: str | None = None, **fields: Any
) -> pb.IntegratedAccount:
    """Connect the emulator's account (or one with another secret) through the proxy."""
    account = pb.IntegratedAccount(
        display_name="emulator",
        user_id=emulator.user_id,
        api_base_url=emulator.api_base_url,
        stream_base_url=emulator.stream_base_url,
        **fields,
    )
    response = await stub.CreateIntegratedAccount(
        pb.CreateIntegratedAccountRequest(
            account=account,
            credential=pb.Credential(kind=pb.CREDENTIAL_KIND_API_KEY, secret=secret or emulator.api_key),
        ),
        timeout=10,
    )
    return response.account


@pytest.fixture
async def account(stub: pb_grpc.ProxyServiceStub, emulator: Any) -> pb.IntegratedAccount:
    """An account holding the emulator's API key."""
    return await create_account(stub, emulator)


async def invoke(
    stub: pb_grpc.ProxyServiceStub,
    account_id: str,
    operation: str,
    arguments: dict[str, Any] | None = None,
    *,
    timeout: float = 15,
    **kw: Any,
) -> tuple[pb.InvokeOperationResponse, Any]:
    """InvokeOperation with JSON arguments; returns the response and its parsed JSON body (or None)."""
    response = await stub.InvokeOperation(
        pb.InvokeOperationRequest(
            account_id=account_id, operation=operation, arguments_json=json.dumps(arguments or {}), **kw
        ),
        timeout=timeout,
    )
    return response, (json.loads(response.body_json) if response.body_json else None)
