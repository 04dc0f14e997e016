"""The system `up` starts authenticates gRPC callers: the proxy and the token service refuse strangers."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.runtime import create_channel
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as tpb
from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub

from .conftest import Stack


def _data_dir(stack: Stack) -> Path:
    return stack.stderr_path.parent / "data"


async def test_a_direct_grpc_call_to_the_running_proxy_without_a_caller_token_is_refused(
    stack: Stack,
) -> None:
    """InvokeOperation and ListIntegratedAccounts without a token are UNAUTHENTICATED; health stays open."""
    async with grpc.aio.insecure_channel(stack.ready["proxy_grpc"]) as channel:
        proxy = ProxyServiceStub(channel)
        for call in (
            proxy.InvokeOperation(
                ppb.InvokeOperationRequest(
                    account_id=stack.ready["account_id"], operation="list_teams", arguments_json="{}"
                ),
                timeout=10,
            ),
            proxy.ListIntegratedAccounts(ppb.ListIntegratedAccountsRequest(), timeout=10),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "caller token" in (refused.value.details() or "")
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.insecure_channel(stack.ready["tokens_grpc"]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await TokenServiceStub(channel).ListApiTokens(tpb.ListApiTokensRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_caller_tokens_up_made_are_private_files_that_open_the_doors(stack: Stack) -> None:
    """Each caller token is a 0600 file in a 0700 directory; the CLI's token lists the account."""
    folder = _data_dir(stack) / "caller-tokens"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert files == [
        "cli-to-proxy",
        "cli-to-tokens",
        "facade-to-proxy",
        "facade-to-tokens",
        "tokens-to-proxy",
    ]
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = (folder / "cli-to-proxy").read_text().strip()
    async with create_channel(stack.ready["proxy_grpc"], caller_token=token) as channel:
        listed = await ProxyServiceStub(channel).ListIntegratedAccounts(
            ppb.ListIntegratedAccountsRequest(), timeout=10
        )
    assert stack.ready["account_id"] in {a.id for a in listed.accounts}
    # The façade's token is for the façade: the token service does not take the proxy-bound one.
    async with create_channel(
        stack.ready["tokens_grpc"], caller_token=(folder / "facade-to-proxy").read_text().strip()
    ) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await TokenServiceStub(channel).ListApiTokens(tpb.ListApiTokensRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    logs = stack.logs()
    for path in folder.iterdir():
        assert path.read_text().strip() not in logs


async def test_admin_commands_without_the_data_dir_token_are_refused_with_a_clear_message(
    stack: Stack, tmp_path: Path
) -> None:
    """`admin create-api-token` pointed at an empty data dir fails, naming the missing caller token."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gumloop_mcp.cli", "admin", "create-api-token", "--name", "stranger",
        "--tokens-target", stack.ready["tokens_grpc"], "--data-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode != 0
    assert b"gmcpat_" not in out
    assert b"caller token" in err


async def test_admin_commands_send_the_token_named_by_env_as_in_a_pod(stack: Stack, tmp_path: Path) -> None:
    """With GMCP_CLI_TOKENS_CALLER_TOKEN (what the token service pod carries) and no data dir, admin works."""
    token = (_data_dir(stack) / "caller-tokens" / "cli-to-tokens").read_text().strip()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gumloop_mcp.cli", "admin", "create-api-token", "--name", "from-env",
        "--tokens-target", stack.ready["tokens_grpc"], "--data-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "GMCP_CLI_TOKENS_CALLER_TOKEN": token},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err
    assert b'"token": "gmcpat_' in out
