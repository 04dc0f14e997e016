"""Tasks that hold a Gumloop run: the protocol layer and the real toolbox, proxy and emulator.

The request deadline is 1.5 s and the emulator runs at time scale 10 (a run takes 30 s), so
a task provably outlives the request that created it; the emulator's clock is then advanced
(/__emulator/clock/advance) to end the run at once. The proxy is spied on to see which operations the
toolbox called (a started run is an event, not a sleep).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from pydantic import SecretStr

from gumloop_mcp.emulator import EmulatorSettings, RunningEmulator, start_emulator
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from services.gumloop_proxy.server import create_server
from services.gumloop_proxy.settings import ProxySettings
from services.mcp_facade.contracts import ServerScope
from services.mcp_facade.protocol.jsonrpc import parse_message
from services.mcp_facade.protocol.protocol import TASKS_EXTENSION, Exchange, Protocol
from services.mcp_facade.protocol.sessions import SessionCodec, SessionStore
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.state.state import MemoryState
from services.mcp_facade.tools.toolbox import GumloopToolbox
from tests.service.gumloop_proxy.conftest import create_account

DEADLINE_S = 1.5
# The request deadline plus the slack Protocol gives a call beyond it, and a margin.
PAST_DEADLINE_S = DEADLINE_S + 1.0 + 0.3
WEEK = [{"input_name": "week", "value": "2026-W49"}]


@dataclass
class SpyProxy:
    """The proxy stub, recording each InvokeOperation (operation, arguments, body) and waking waiters."""

    stub: ProxyServiceStub
    invoked: list[tuple[str, str, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stub, name)

    async def InvokeOperation(self, request: pb.InvokeOperationRequest, **kwargs: Any) -> Any:  # noqa: N802
        response = await self.stub.InvokeOperation(request, **kwargs)
        self.invoked.append((request.operation, request.arguments_json, response.body_json))
        self.changed.set()
        return response

    async def until(self, operation: str, answered: str = "") -> tuple[str, str]:
        """(arguments, body) of the first call of `operation` whose body contains `answered`."""
        async with asyncio.timeout(15):
            while True:
                found = [(a, b) for op, a, b in self.invoked if op == operation and answered in b]
                if found:
                    return found[0]
                self.changed.clear()
                await self.changed.wait()


@dataclass
class Rig:
    protocol: Protocol
    box: GumloopToolbox
    spy: SpyProxy
    scope: ServerScope
    emulator: RunningEmulator
    tools: dict[str, str]

    async def advance(self, seconds: float) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                self.emulator.base_url + "/__emulator/clock/advance", json={"seconds": seconds}
            ) as resp,
        ):
            assert resp.status == 200


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    running = await start_emulator(EmulatorSettings(host="127.0.0.1", port=0, time_scale=10.0))
    try:
        settings = ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path, log_json=False)
        async with (
            await create_server(settings) as proxy,
            grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel,
        ):
            stub = ProxyServiceStub(channel)
            account = await create_account(stub, running)
            scope = ServerScope(server_id="mcp_1", account_id=account.id, name="emulator")
            facade = FacadeSettings(request_deadline_s=DEADLINE_S, session_secret=SecretStr("s" * 32))
            spy = SpyProxy(stub)
            box = GumloopToolbox(spy, facade)  # type: ignore[arg-type]
            state = MemoryState()
            protocol = Protocol(facade, box, SessionStore(SessionCodec(b"s" * 32, 60), state), state)
            by_operation = await box.operation_tools(scope)
            try:
                yield Rig(protocol, box, spy, scope, running, by_operation)
            finally:
                await protocol.close()
    finally:
        await running.close()


def request(method: str, params: dict[str, Any]) -> Any:
    return parse_message({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


async def a_saved_item(rig: Rig) -> str:
    listed = await rig.protocol.request(
        request("tools/call", {"name": rig.tools["list_saved_items"], "arguments": {"limit": 5}}),
        session_exchange(rig),
    )
    assert not listed.get("isError"), listed
    ids = [str(item["saved_item_id"]) for item in listed["structuredContent"]["items"]]
    assert "si_weekly_report" in ids  # seeded; its one required input is `week`
    return "si_weekly_report"


def session_exchange(rig: Rig) -> Exchange:
    caps = {"tasks": {"requests": {"tools": {"call": {}}}}}
    return Exchange(rig.scope, "2025-11-25", False, "conn-1", client_capabilities=caps)


def modern_exchange(rig: Rig) -> Exchange:
    caps = {"extensions": {TASKS_EXTENSION: {}}}
    return Exchange(rig.scope, "2026-07-28", True, "req-1", client_capabilities=caps)


async def test_a_run_task_outlives_the_request_deadline_and_tasks_result_reads_the_end(rig: Rig) -> None:
    """2025-11-25 task of start_pipeline: still working past the request deadline (the toolbox keeps
    polling the run), then the run ends and tasks/result carries its final state."""
    ex = session_exchange(rig)
    saved_item = await a_saved_item(rig)
    start = rig.tools["start_pipeline"]
    loop = asyncio.get_running_loop()
    created = await rig.protocol.request(
        request(
            "tools/call",
            {"name": start, "arguments": {"saved_item_id": saved_item, "pipeline_inputs": WEEK}, "task": {}},
        ),
        ex,
    )
    began = loop.time()
    task_id = created["task"]["taskId"]
    _, body = await rig.spy.until("start_pipeline")
    while loop.time() < began + PAST_DEADLINE_S:
        got = await rig.protocol.request(request("tasks/get", {"taskId": task_id}), ex)
        assert got["status"] == "working", got
        rig.spy.changed.clear()
        async with asyncio.timeout(5):
            await rig.spy.changed.wait()  # the next status poll
    assert [op for op, _, _ in rig.spy.invoked].count("get_pl_run") >= 2
    await rig.advance(60)
    await rig.spy.until("get_pl_run", '"DONE"')  # the task's next poll sees the end
    result = await rig.protocol.request(request("tasks/result", {"taskId": task_id}), ex)
    text = "\n".join(block["text"] for block in result["content"] if block["type"] == "text")
    assert "finished with state DONE" in text, text
    assert result["structuredContent"]["run_id"] == json.loads(body)["run_id"]
    assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task_id}
    got = await rig.protocol.request(request("tasks/get", {"taskId": task_id}), ex)
    assert got["status"] == "completed"


async def test_cancelling_a_run_task_kills_the_gumloop_run(rig: Rig) -> None:
    """2026-07-28 tasks extension: tasks/cancel of a task holding a run calls kill_pipeline on it."""
    ex = modern_exchange(rig)
    saved_item = await a_saved_item(rig)
    created = await rig.protocol.request(
        request(
            "tools/call",
            {
                "name": rig.tools["start_pipeline"],
                "arguments": {"saved_item_id": saved_item, "pipeline_inputs": WEEK},
            },
        ),
        ex,
    )
    assert created["resultType"] == "task"
    task_id = created["taskId"]
    _, body = await rig.spy.until("start_pipeline")
    run_id = json.loads(body)["run_id"]
    await rig.spy.until("get_pl_run")  # the task follows the run
    assert await rig.protocol.request(request("tasks/cancel", {"taskId": task_id}), ex) == {
        "resultType": "complete"
    }
    killed, _ = await rig.spy.until("kill_pipeline")
    assert json.loads(killed) == {"run_id": run_id}
    got = await rig.protocol.request(request("tasks/get", {"taskId": task_id}), ex)
    assert got["status"] == "cancelled" and "result" not in got
    run = await rig.protocol.request(
        request("tools/call", {"name": rig.tools["get_pl_run"], "arguments": {"run_id": run_id}}), ex
    )
    assert run["structuredContent"]["state"] in ("TERMINATING", "TERMINATED")
