"""The proxy server: accounts, catalog RPCs, health, reflection, the module entry point."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import field_violations
from services.gumloop_proxy.server import ProxyServer

from .conftest import create_account

REPO = Path(__file__).resolve().parents[3]


async def test_health_is_serving_and_reflection_lists_the_service(proxy: ProxyServer) -> None:
    """Standard health checking and reflection are served."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="gumloop_mcp.proxy.v1.ProxyService"), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = [s.name async for r in stream for s in r.list_services_response.service]
        assert "gumloop_mcp.proxy.v1.ProxyService" in names


async def test_list_and_get_operations_with_filters_and_version(stub: pb_grpc.ProxyServiceStub) -> None:
    """ListOperations filters by kind, tags and names and reports the catalog version."""
    everything = await stub.ListOperations(pb.ListOperationsRequest(), timeout=5)
    assert len(everything.operations) >= 58 and everything.catalog_version
    lists = await stub.ListOperations(
        pb.ListOperationsRequest(kinds=[pb.OPERATION_KIND_LIST], tags=["skills"])
    )
    assert [o.name for o in lists.operations] == ["list_skills"]
    one = await stub.GetOperation(pb.GetOperationRequest(name="start_pipeline"), timeout=5)
    assert one.operation.has_dynamic_inputs and one.operation.async_work.status_operation == "get_pl_run"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetOperation(pb.GetOperationRequest(name="nope"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_accounts_are_created_listed_fetched_and_deleted_without_secrets(
    stub: pb_grpc.ProxyServiceStub, emulator: Any
) -> None:
    """The credential is never returned; deleted accounts are gone."""
    created = await create_account(stub, emulator, secret="gl-super-secret-1", team_id="team_1")
    assert created.id and created.credential_kind == pb.CREDENTIAL_KIND_API_KEY
    fetched = await stub.GetIntegratedAccount(
        pb.GetIntegratedAccountRequest(account_id=created.id), timeout=5
    )
    assert fetched.account.team_id == "team_1"
    listed = await stub.ListIntegratedAccounts(pb.ListIntegratedAccountsRequest(), timeout=5)
    assert created.id in [a.id for a in listed.accounts]
    assert b"gl-super-secret-1" not in fetched.SerializeToString() + listed.SerializeToString()
    await stub.DeleteIntegratedAccount(pb.DeleteIntegratedAccountRequest(account_id=created.id), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetIntegratedAccount(pb.GetIntegratedAccountRequest(account_id=created.id), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_account_without_credential_or_user_is_refused(stub: pb_grpc.ProxyServiceStub) -> None:
    """Missing secret, kind and user id are field violations."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateIntegratedAccount(
            pb.CreateIntegratedAccountRequest(
                account=pb.IntegratedAccount(api_base_url="ftp://x"), credential=pb.Credential()
            ),
            timeout=5,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {f for f, _ in field_violations(caught.value)}
    assert {"credential.kind", "credential.secret", "account.api_base_url"} <= fields


async def test_the_module_entry_point_announces_its_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`python -m services.gumloop_proxy` prints one JSON line, serves, and exits cleanly on SIGTERM."""
    env = {
        **os.environ,
        "GMCP_PROXY_GRPC_PORT": "0",
        "GMCP_PROXY_HOST": "127.0.0.1",
        "GMCP_PROXY_DATA_DIR": str(tmp_path),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.gumloop_proxy", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        assert line["event"] == "serving" and line["service"] == "proxy" and line["ports"]["grpc"] > 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{line['ports']['grpc']}") as channel:
            listed = await pb_grpc.ProxyServiceStub(channel).ListOperations(
                pb.ListOperationsRequest(), timeout=5
            )
            assert listed.catalog_version
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
