"""Caller tokens on the real proxy: InvokeOperation refused without a known token, served with one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import create_channel
from services.gumloop_proxy.server import create_server
from services.gumloop_proxy.settings import ProxySettings
from tests.service.gumloop_proxy.conftest import create_account

FACADE = "facade-to-proxy-0123456789abcdef"
TOKENS = "tokens-to-proxy-0123456789abcdef"


def _settings(tmp_path: Path, callers: str) -> ProxySettings:
    return ProxySettings(
        host="127.0.0.1",
        grpc_port=0,
        data_dir=tmp_path,
        store="sqlite",
        log_json=False,
        caller_tokens=callers,  # type: ignore[arg-type]
    )


async def test_invoke_operation_needs_a_known_caller_token(tmp_path: Path, emulator: Any) -> None:
    """Without (or with a wrong) token InvokeOperation is UNAUTHENTICATED; with one it reaches upstream."""
    proxy = await create_server(_settings(tmp_path, f"facade={FACADE} tokens={TOKENS}"))
    target = f"127.0.0.1:{proxy.port}"
    request = pb.InvokeOperationRequest(account_id="acct_x", operation="list_teams", arguments_json="{}")
    async with proxy:
        async with grpc.aio.insecure_channel(target) as bare:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.ProxyServiceStub(bare).InvokeOperation(request, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "proxy requires a caller token" in (refused.value.details() or "")
            # Probes and grpcurl still work without metadata.
            health = await health_pb2_grpc.HealthStub(bare).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            answers = reflection_pb2_grpc.ServerReflectionStub(bare).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            names = [s.name async for a in answers for s in a.list_services_response.service]
            assert "gumloop_mcp.proxy.v1.ProxyService" in names
        async with create_channel(target, caller_token="unknown-caller-0123456789abcdef") as wrong:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.ProxyServiceStub(wrong).ListIntegratedAccounts(
                    pb.ListIntegratedAccountsRequest()
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "unknown caller token" in (refused.value.details() or "")
            assert "unknown-caller" not in (refused.value.details() or "")
        async with create_channel(target, caller_token=TOKENS) as channel:
            stub = pb_grpc.ProxyServiceStub(channel)
            account = await create_account(stub, emulator)
            answer = await stub.InvokeOperation(
                pb.InvokeOperationRequest(account_id=account.id, operation="list_teams", arguments_json="{}"),
                timeout=15,
            )
            assert answer.http_status == 200
            assert isinstance(json.loads(answer.body_json), (dict, list))


async def test_a_malformed_caller_list_stops_the_proxy_before_it_serves(tmp_path: Path) -> None:
    """A bad GMCP_PROXY_CALLER_TOKENS is a ValueError at build time, without the token in it."""
    with pytest.raises(ValueError, match="at least 16") as refused:
        await create_server(_settings(tmp_path, "facade=tooshort"))
    assert "tooshort" not in str(refused.value)
