"""Task-augmented tools/call (2025-11-25 `tasks`): run a long call in the background.

The client declares `capabilities.tasks.requests.tools.call` and sends tools/call with
`params.task`; the façade answers at once with a CreateTaskResult and the client
follows up with tasks/get, tasks/result, tasks/list and tasks/cancel.

Task state lives in this process's memory (bounded, expired after its ttl): a
client must reach the same replica for its follow-ups, and a restart loses running
tasks. That is documented behaviour; tasks are an optional, experimental feature.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from .contracts import CallContext
from .jsonrpc import INVALID_PARAMS, JsonRpcError

__all__ = ["TaskRecord", "TaskStore"]

_DEFAULT_TTL_MS: Final = 60 * 60 * 1000
_MAX_TTL_MS: Final = 24 * 60 * 60 * 1000
_MAX_TASKS: Final = 10_000
_POLL_INTERVAL_MS: Final = 2000
RELATED_TASK: Final = "io.modelcontextprotocol/related-task"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class TaskRecord:
    """One task: its owner, state and outcome."""

    task_id: str
    server_id: str
    ttl_ms: int
    created_at: float
    ctx: CallContext
    updated_at: float = 0.0
    status: str = "working"
    status_message: str | None = None
    result: dict[str, Any] | None = None
    error: JsonRpcError | None = None
    runner: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_wire(self) -> dict[str, Any]:
        """The Task object."""
        wire: dict[str, Any] = {
            "taskId": self.task_id,
            "status": self.status,
            "createdAt": _iso(self.created_at),
            "lastUpdatedAt": _iso(self.updated_at or self.created_at),
            "ttl": self.ttl_ms,
            "pollInterval": _POLL_INTERVAL_MS,
        }
        if self.status_message:
            wire["statusMessage"] = self.status_message
        return wire


class TaskStore:
    """In-process tasks, isolated per MCP server record."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskRecord] = {}

    def start(
        self,
        server_id: str,
        ttl_ms: int | None,
        ctx: CallContext,
        run: Callable[[], Awaitable[dict[str, Any]]],
    ) -> TaskRecord:
        """Start `run()` as a task and return its record."""
        self._expire()
        if len(self._tasks) >= _MAX_TASKS:
            raise JsonRpcError(INVALID_PARAMS, "Too many tasks in flight; retry without `task` or later")
        ttl = min(max(int(ttl_ms or _DEFAULT_TTL_MS), 1000), _MAX_TTL_MS)
        now = time.time()
        record = TaskRecord(secrets.token_urlsafe(16), server_id, ttl, now, ctx)
        record.runner = asyncio.create_task(self._run(record, run), name=f"mcp-task-{record.task_id[:6]}")
        self._tasks[record.task_id] = record
        return record

    async def _run(self, record: TaskRecord, run: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            result = await run()
        except asyncio.CancelledError:
            record.status = "cancelled"
            record.status_message = "Cancelled by the client"
        except JsonRpcError as exc:
            record.status, record.error, record.status_message = "failed", exc, exc.message
        except Exception as exc:  # the task must end in a state, whatever happened
            record.status = "failed"
            record.error = JsonRpcError(-32603, "Internal error while running the task")
            record.status_message = type(exc).__name__
        else:
            record.result = result
            record.status = "failed" if result.get("isError") else "completed"
        finally:
            record.updated_at = time.time()
            record.done.set()

    def get(self, server_id: str, task_id: Any) -> TaskRecord:
        """The caller's task, or -32602 (another server's task looks unknown)."""
        self._expire()
        record = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if record is None or record.server_id != server_id:
            raise JsonRpcError(INVALID_PARAMS, "Unknown task id")
        return record

    def list(self, server_id: str) -> list[TaskRecord]:
        """The server's tasks, oldest first."""
        self._expire()
        return sorted(
            (t for t in self._tasks.values() if t.server_id == server_id), key=lambda t: t.created_at
        )

    async def result(self, server_id: str, task_id: Any) -> dict[str, Any]:
        """Wait for the task to end and return its CallToolResult (or raise its error)."""
        record = self.get(server_id, task_id)
        await record.done.wait()
        if record.error is not None:
            raise record.error
        if record.result is None:
            raise JsonRpcError(INVALID_PARAMS, "The task was cancelled and has no result")
        result = dict(record.result)
        result["_meta"] = {**result.get("_meta", {}), RELATED_TASK: {"taskId": record.task_id}}
        return result

    async def cancel(self, server_id: str, task_id: Any) -> TaskRecord:
        """Cancel a running task; a finished one cannot be cancelled (-32602)."""
        record = self.get(server_id, task_id)
        if record.done.is_set():
            raise JsonRpcError(INVALID_PARAMS, f"Task already {record.status}; it cannot be cancelled")
        record.ctx.cancelled.set()
        if record.runner is not None:
            record.runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await record.done.wait()
        return record

    async def close(self) -> None:
        """Cancel everything (shutdown)."""
        for record in list(self._tasks.values()):
            if record.runner is not None and not record.runner.done():
                record.runner.cancel()
        runners = [r.runner for r in self._tasks.values() if r.runner is not None]
        await asyncio.gather(*runners, return_exceptions=True)

    def _expire(self) -> None:
        now = time.time()
        for task_id, record in list(self._tasks.items()):
            if record.done.is_set() and record.created_at + record.ttl_ms / 1000 < now:
                del self._tasks[task_id]
