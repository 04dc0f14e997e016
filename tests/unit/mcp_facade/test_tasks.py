"""The in-process task store."""

from __future__ import annotations

import asyncio

import pytest

from services.mcp_facade.contracts import CallContext
from services.mcp_facade.jsonrpc import JsonRpcError
from services.mcp_facade.tasks import TaskStore


async def test_tasks_are_isolated_per_server_and_complete() -> None:
    """A task is invisible to other servers and its result carries the related-task meta."""
    store = TaskStore()
    record = store.start("s1", 5000, CallContext(deadline=0), lambda: asyncio.sleep(0, {"content": []}))
    with pytest.raises(JsonRpcError):
        store.get("s2", record.task_id)
    result = await store.result("s1", record.task_id)
    assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": record.task_id}
    assert store.get("s1", record.task_id).status == "completed"
    assert store.get("s1", record.task_id).to_wire()["ttl"] == 5000


async def test_error_results_mark_the_task_failed_and_finished_tasks_cannot_be_cancelled() -> None:
    """isError results end as failed; cancelling a finished task is -32602."""
    store = TaskStore()
    record = store.start("s1", None, CallContext(deadline=0), lambda: asyncio.sleep(0, {"isError": True}))
    await store.result("s1", record.task_id)
    assert record.status == "failed"
    with pytest.raises(JsonRpcError):
        await store.cancel("s1", record.task_id)
