"""The task store over the in-memory state (one replica)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.mcp_facade.contracts import CallContext
from services.mcp_facade.protocol.jsonrpc import JsonRpcError
from services.mcp_facade.protocol.tasks import TaskStore
from services.mcp_facade.state.state import MemoryState


async def test_tasks_are_isolated_per_server_and_complete() -> None:
    """A task is invisible to other servers and its result carries the related-task meta."""
    store = TaskStore(MemoryState())
    task = await store.start("s1", 5000, CallContext(deadline=0), lambda: asyncio.sleep(0, {"content": []}))
    with pytest.raises(JsonRpcError) as unknown:
        await store.get("s2", task["taskId"])
    assert unknown.value.code == -32602
    result = await store.result("s1", task["taskId"], 5)
    assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task["taskId"]}
    assert (await store.get("s1", task["taskId"]))["status"] == "completed"
    assert (await store.get("s1", task["taskId"]))["ttl"] == 5000
    assert await store.list("s2") == []


async def test_error_results_mark_the_task_failed_and_finished_tasks_cannot_be_cancelled() -> None:
    """isError results end as failed; cancelling a finished task is -32602."""
    store = TaskStore(MemoryState())
    task = await store.start("s1", None, CallContext(deadline=0), lambda: asyncio.sleep(0, {"isError": True}))
    await store.result("s1", task["taskId"], 5)
    assert (await store.get("s1", task["taskId"]))["status"] == "failed"
    with pytest.raises(JsonRpcError) as finished:
        await store.cancel("s1", task["taskId"])
    assert finished.value.code == -32602


async def test_cancel_stops_the_runner_and_result_then_has_no_result() -> None:
    """tasks/cancel cancels the running coroutine; the record says cancelled; result is -32602."""
    store = TaskStore(MemoryState())
    started, stopped = asyncio.Event(), asyncio.Event()

    async def run() -> dict[str, Any]:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return {}

    ctx = CallContext(deadline=0)
    task = await store.start("s1", 60_000, ctx, run)
    await asyncio.wait_for(started.wait(), 5)
    cancelled = await store.cancel("s1", task["taskId"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["statusMessage"] == "Cancelled by the client"
    assert stopped.is_set() and ctx.cancelled.is_set()
    with pytest.raises(JsonRpcError, match="cancelled and has no result"):
        await store.result("s1", task["taskId"], 5)


async def test_result_waits_at_most_the_timeout_and_tool_errors_propagate() -> None:
    """A still-working task makes tasks/result give up after the timeout; a JsonRpcError is re-raised."""
    store = TaskStore(MemoryState())
    gate = asyncio.Event()

    async def run() -> dict[str, Any]:
        await gate.wait()
        raise JsonRpcError(-32602, "bad arguments", {"field": "x"})

    task = await store.start("s1", 60_000, CallContext(deadline=0), run)
    with pytest.raises(JsonRpcError, match="still working") as waiting:
        await store.result("s1", task["taskId"], 0.3)
    assert waiting.value.code == -32603
    gate.set()
    with pytest.raises(JsonRpcError) as failed:
        await store.result("s1", task["taskId"], 5)
    assert (failed.value.code, failed.value.message, failed.value.data) == (
        -32602,
        "bad arguments",
        {"field": "x"},
    )
    assert (await store.get("s1", task["taskId"]))["statusMessage"] == "bad arguments"


async def test_close_cancels_running_tasks_and_records_the_shutdown() -> None:
    """Shutdown cancels running tasks; their record says the server shut down."""
    store = TaskStore(MemoryState())

    async def forever() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    task = await store.start("s1", 60_000, CallContext(deadline=0), forever)
    await asyncio.sleep(0)
    await store.close()
    got = await store.get("s1", task["taskId"])
    assert (got["status"], got["statusMessage"]) == ("cancelled", "Cancelled: the server shut down")


async def test_a_working_task_of_a_replica_that_is_gone_is_reported_failed() -> None:
    """A `working` record whose owner is not alive reads as failed with a clear message, and stays so."""
    state = MemoryState()
    store = TaskStore(state)
    record = {"id": "t1", "server": "s1", "owner": "gone", "status": "working", "created": 1.0, "ttl": 60_000}
    await state.create_task(record)
    got = await store.get("s1", "t1")
    assert (got["status"], got["statusMessage"]) == (
        "failed",
        "The replica running this task stopped before it finished",
    )
    assert (await state.load_task("s1", "t1") or {})["status"] == "failed"
    with pytest.raises(JsonRpcError, match="stopped before it finished") as raised:
        await store.result("s1", "t1", 5)
    assert raised.value.code == -32603
