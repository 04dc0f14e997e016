"""A QUEUED run (an Enterprise plan at its concurrency limit) round-trips through the proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gumloop_mcp.emulator import EmulatorSettings, start_emulator
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc

from .conftest import invoke


@pytest.fixture
async def emulator() -> AsyncIterator[Any]:
    """The emulator as an Enterprise org with one run slot, runs slow enough (300 s) to stay put."""
    settings = EmulatorSettings(
        host="127.0.0.1", port=0, plan="enterprise", max_concurrent_runs=1, time_scale=100.0
    )
    async with await start_emulator(settings) as running:
        yield running


async def test_a_run_started_at_the_enterprise_limit_reads_back_as_queued_through_the_proxy(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """start_pipeline twice: the second run's get_pl_run says QUEUED; killing it makes it TERMINATED."""
    args = {"saved_item_id": "si_weekly_report", "pipeline_inputs": {"week": "48"}}
    _, first = await invoke(stub, account.id, "start_pipeline", args)
    _, second = await invoke(stub, account.id, "start_pipeline", args)
    _, running = await invoke(stub, account.id, "get_pl_run", {"run_id": first["run_id"]})
    response, queued = await invoke(stub, account.id, "get_pl_run", {"run_id": second["run_id"]})
    assert running["state"] == "RUNNING"
    assert queued["state"] == "QUEUED" and "finished_ts" not in queued  # absent until it ends
    assert response.http_status == 200
    _, killed = await invoke(stub, account.id, "kill_pipeline", {"run_id": second["run_id"]})
    assert killed == {"success": True, "run_id": second["run_id"]}
    _, after = await invoke(stub, account.id, "get_pl_run", {"run_id": second["run_id"]})
    assert after["state"] == "TERMINATED"
