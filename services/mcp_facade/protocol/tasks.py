"""Task-augmented tools/call (2025-11-25 `tasks`): run a long call in the background.

The client declares `capabilities.tasks.requests.tools.call` and sends tools/call with
`params.task`; the façade answers at once with a CreateTaskResult and the client
follows up with tasks/get, tasks/result, tasks/list and tasks/cancel.

The call runs on the replica that accepted it (its "owner"); the task's record
(status, message, times, ttl, result or error, server id, owner replica id) lives in
the shared façade state for the task's ttl, so every follow-up works on ANY replica:
- tasks/result waits for a terminal state: woken by the `task-ended` broadcast, and
  re-reading the record with backoff in case a notification was lost, bounded by the
  request deadline;
- tasks/cancel on another replica sends `task-cancel` to the owner, which cancels
  the runner; if nobody receives it the owner is gone and the record is closed here;
- a `working` task whose owner's heartbeat expired (the replica died) is reported and
  recorded as failed instead of leaving readers waiting forever.
Tasks are isolated per MCP server record: records are keyed by server id, so another
server's task id looks unknown. A runner holds its record open in live.py: when the record is
revoked or expires, the runner is cancelled and the task ends `cancelled`, its error saying why.
When the state store is unreachable, task methods answer -32603 saying so (no task is started
that could not be recorded).

The 2026-07-28 `io.modelcontextprotocol/tasks` extension (SEP-2663) uses the same records with
another wire shape (`modern_wire`: ttlMs/pollIntervalMs, the result or error inlined on tasks/get,
a tool error is `completed` with `result.isError`) and adds `input_required`: a runner whose call
raises input_required.InputRequired parks with the requests in its record; `update()` (tasks/update,
on any replica) removes the answered ones and hands the responses to the runner, which runs the
call again with them once every pending request is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

from ..contracts import CallContext
from ..state.state import FacadeState, StateUnavailable
from .input_required import InputRequired, InputRound, missing_capability, required_capabilities
from .jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, JsonRpcError
from .live import Hold, LiveWork, SecondFactor

__all__ = ["RELATED_TASK", "TaskStore", "modern_wire", "task_wire"]

logger = logging.getLogger(__name__)

_DEFAULT_TTL_MS: Final = 60 * 60 * 1000
_MAX_TTL_MS: Final = 24 * 60 * 60 * 1000
# Tasks running on this replica at once.
_MAX_TASKS: Final = 10_000
_POLL_INTERVAL_MS: Final = 2000
# Re-reading while waiting: from _FIRST_POLL_S doubling to _MAX_POLL_S (covers a lost broadcast).
_FIRST_POLL_S: Final = 0.25
_MAX_POLL_S: Final = 5.0
# How long tasks/cancel waits for the owner to confirm.
_CANCEL_WAIT_S: Final = 10.0
TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})
RELATED_TASK: Final = "io.modelcontextprotocol/related-task"
_UNAVAILABLE: Final = "The task store is unavailable right now (shared state unreachable); retry later"
_OWNER_GONE: Final = "The replica running this task stopped before it finished"

Key = tuple[str, str]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def task_wire(record: dict[str, Any]) -> dict[str, Any]:
    """The Task object of a record."""
    wire: dict[str, Any] = {
        "taskId": record["id"],
        "status": record["status"],
        "createdAt": _iso(float(record["created"])),
        "lastUpdatedAt": _iso(float(record.get("updated") or record["created"])),
        "ttl": int(record["ttl"]),
        "pollInterval": _POLL_INTERVAL_MS,
    }
    if record.get("message"):
        wire["statusMessage"] = record["message"]
    return wire


def modern_wire(record: dict[str, Any], *, detailed: bool) -> dict[str, Any]:
    """The 2026-07-28 Task of a record: the CreateTaskResult fields, or (detailed) tasks/get's DetailedTask.

    A call that ran and returned `isError` is `completed` with that result (`failed` is for
    protocol errors, with `error` inlined and no result).
    """
    status = str(record["status"])
    result, error = record.get("result"), record.get("error")
    if status == "failed" and isinstance(result, dict) and not isinstance(error, dict):
        status = "completed"
    wire: dict[str, Any] = {
        "taskId": record["id"],
        "status": status,
        "createdAt": _iso(float(record["created"])),
        "lastUpdatedAt": _iso(float(record.get("updated") or record["created"])),
        "ttlMs": int(record["ttl"]),
        "pollIntervalMs": _POLL_INTERVAL_MS,
    }
    if record.get("message"):
        wire["statusMessage"] = record["message"]
    if detailed:
        if status == "completed" and isinstance(result, dict):
            wire["result"] = {**result, "resultType": "complete"}
        elif status == "failed" and isinstance(error, dict):
            wire["error"] = {k: v for k, v in error.items() if v is not None}
        elif status == "input_required":
            wire["inputRequests"] = record.get("inputs") or {}
    return wire


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except StateUnavailable as exc:
        raise JsonRpcError(INTERNAL_ERROR, _UNAVAILABLE) from exc


class TaskStore:
    """Tasks over the shared state; runners of the tasks this replica owns."""

    def __init__(self, state: FacadeState, live: LiveWork | None = None) -> None:
        self._state = state
        self._live = live or LiveWork()
        self._runners: dict[Key, tuple[asyncio.Task[dict[str, Any]], CallContext]] = {}
        # Why a runner was cut (its server revoked or expired), until its record says so.
        self._cut_reasons: dict[Key, str] = {}
        self._waiters: dict[Key, set[asyncio.Event]] = {}
        # Runners parked on input: the responses tasks/update delivered, for the runner to take.
        self._inboxes: dict[Key, asyncio.Queue[dict[str, Any]]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._closing = False
        state.on_message("task-ended", self._on_ended)
        state.on_message("task-cancel", self._on_cancel)
        state.on_message("task-input", self._on_input)

    async def start(
        self,
        server_id: str,
        ttl_ms: Any,
        ctx: CallContext,
        run: Callable[[], Awaitable[dict[str, Any]]],
        *,
        second_factor: SecondFactor | None = None,
        accepts_input: bool = False,
        wire: Callable[[dict[str, Any]], dict[str, Any]] = task_wire,
        abandon: Callable[[], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Record a new task, start `run()` here, and return it as `wire` shows it.

        `second_factor`: the API token the task was started with; revoking it cuts the task.
        `accepts_input`: the client answers input requests through tasks/update (2026-07-28), so a
        call raising InputRequired parks as `input_required` (else the task fails saying why).
        `abandon`: called when the task is cancelled (by the client, or cut) while parked on input,
        with `ctx.inputs.state` the state the call sealed: it stops the work the call holds.
        """
        if len(self._runners) >= _MAX_TASKS:
            raise JsonRpcError(INVALID_PARAMS, "Too many tasks in flight; retry without `task` or later")
        try:
            ttl = int(ttl_ms or _DEFAULT_TTL_MS)
        except (TypeError, ValueError):
            ttl = _DEFAULT_TTL_MS
        now = time.time()
        record: dict[str, Any] = {
            "id": secrets.token_urlsafe(16),
            "server": server_id,
            "owner": self._state.replica_id,
            "status": "working",
            "message": None,
            "created": now,
            "updated": now,
            "ttl": min(max(ttl, 1000), _MAX_TTL_MS),
            "result": None,
            "error": None,
        }
        with _store_errors():
            await self._state.create_task(record)
        # The call runs until the task expires (not the creating request's deadline): a Gumloop run
        # is held and polled after the request returned, tasks/get and tasks/result read it later.
        ctx.deadline = asyncio.get_running_loop().time() + record["ttl"] / 1000
        key = (server_id, record["id"])
        inputs = self._run_with_inputs(record, ctx, run, abandon) if accepts_input else run
        runner = asyncio.create_task(self._run(dict(record), inputs), name=f"mcp-task-{record['id'][:6]}")
        self._runners[key] = (runner, ctx)
        hold = self._live.hold(
            server_id, "", lambda reason: self._cut(key, reason), second_factor=second_factor
        )
        runner.add_done_callback(lambda task: self._runner_done(key, record, task, hold))
        return wire(record)

    def _cut(self, key: Key, reason: str) -> None:
        """The task's server was revoked or expired: cancel the runner, recording why."""
        entry = self._runners.get(key)
        if entry is not None:
            self._cut_reasons[key] = reason
            runner, ctx = entry
            ctx.cancelled.set()
            runner.cancel()

    def _run_with_inputs(
        self,
        record: dict[str, Any],
        ctx: CallContext,
        run: Callable[[], Awaitable[dict[str, Any]]],
        abandon: Callable[[], Awaitable[None]] | None = None,
    ) -> Callable[[], Awaitable[dict[str, Any]]]:
        """`run` re-run round after round: parked on InputRequired until tasks/update answers it."""
        key = (str(record["server"]), str(record["id"]))
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._inboxes[key] = inbox

        async def rounds() -> dict[str, Any]:
            responses = dict(ctx.inputs.responses)
            try:
                while True:
                    try:
                        return await run()
                    except InputRequired as exc:
                        missing = required_capabilities(exc.requests, ctx.client_capabilities)
                        if missing:
                            raise missing_capability(
                                missing, f"the task needs {', '.join(missing)}"
                            ) from None
                        pending = {k: v for k, v in exc.requests.items() if k not in responses}
                        if not pending:
                            raise JsonRpcError(
                                INTERNAL_ERROR, "The task asked again for input it already has"
                            ) from None
                        ctx.inputs = InputRound(dict(responses), exc.state)
                        try:
                            await self._park(record, pending)
                            while pending:
                                delivered = await inbox.get()
                                for answered in [k for k in delivered if k in pending]:
                                    responses[answered] = delivered[answered]
                                    del pending[answered]
                        except asyncio.CancelledError:
                            # cancelled or cut (not a shutdown): the work the call holds stops too
                            if abandon is not None and ctx.cancelled.is_set():
                                await abandon()
                            raise
                        ctx.inputs = InputRound(dict(responses), exc.state)
            finally:
                self._inboxes.pop(key, None)

        return rounds

    async def _park(self, record: dict[str, Any], pending: dict[str, Any]) -> None:
        """Record the task as waiting for the client's input."""
        parked = {**record, "status": "input_required", "inputs": pending, "updated": time.time()}
        parked["message"] = "Waiting for the client's input (tasks/update)"
        try:
            await self._state.update_task(parked)
        except StateUnavailable:
            logger.warning("task %s needs input but its state could not be recorded", str(record["id"])[:6])
        self._wake((str(record["server"]), str(record["id"])))

    async def update(self, server_id: str, task_id: Any, responses: dict[str, Any]) -> None:
        """tasks/update: record which pending requests are answered and hand the answers to the runner.

        Answers to keys the task is not waiting for (or for a task not waiting at all) are ignored.
        """
        with _store_errors():
            record = await self._load(server_id, task_id)
            pending = record.get("inputs") or {}
            answered = {k: v for k, v in responses.items() if k in pending}
            if record["status"] != "input_required" or not answered:
                return
            remaining = {k: v for k, v in pending.items() if k not in answered}
            record.update(inputs=remaining or None, updated=time.time())
            if not remaining:
                record.update(status="working", message=None)
            await self._state.update_task(record)
            inbox = self._inboxes.get((server_id, record["id"]))
            if inbox is not None:
                inbox.put_nowait(answered)
                return
            message = {"kind": "task-input", "server": server_id, "id": record["id"], "responses": answered}
            if not await self._state.send(str(record["owner"]), message):
                raise JsonRpcError(
                    INTERNAL_ERROR, "The replica running this task could not be reached; retry tasks/update"
                )

    def _on_input(self, message: dict[str, Any]) -> None:
        inbox = self._inboxes.get((str(message.get("server")), str(message.get("id"))))
        responses = message.get("responses")
        if inbox is not None and isinstance(responses, dict):
            inbox.put_nowait(responses)

    def _runner_done(
        self, key: Key, record: dict[str, Any], runner: asyncio.Task[dict[str, Any]], hold: Hold
    ) -> None:
        self._runners.pop(key, None)
        self._live.release(hold)
        if runner.cancelled():  # cancelled before it ever ran: _run() recorded nothing
            publish = asyncio.create_task(self._publish(self._cancelled(record)))
            self._pending.add(publish)
            publish.add_done_callback(self._pending.discard)
        else:
            self._cut_reasons.pop(key, None)

    def _cancelled(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {k: v for k, v in record.items() if k != "inputs"}
        reason = self._cut_reasons.pop((str(record["server"]), str(record["id"])), None)
        if reason is not None:
            error = {"code": INVALID_REQUEST, "message": reason}
            return {
                **record,
                "status": "cancelled",
                "message": reason,
                "error": error,
                "updated": time.time(),
            }
        message = "Cancelled: the server shut down" if self._closing else "Cancelled by the client"
        return {**record, "status": "cancelled", "message": message, "updated": time.time()}

    async def _run(
        self, record: dict[str, Any], run: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        try:
            result = await run()
        except asyncio.CancelledError:
            record = self._cancelled(record)
        except JsonRpcError as exc:
            record["status"], record["message"] = "failed", exc.message
            record["error"] = {"code": exc.code, "message": exc.message, "data": exc.data}
        except Exception as exc:  # the task must end in a state, whatever happened
            record["status"], record["message"] = "failed", type(exc).__name__
            record["error"] = {"code": INTERNAL_ERROR, "message": "Internal error while running the task"}
        else:
            record["result"] = result
            record["status"] = "failed" if result.get("isError") else "completed"
        record["updated"] = time.time()
        record.pop("inputs", None)
        await self._publish(record)
        return record

    async def _publish(self, record: dict[str, Any]) -> None:
        """Store a terminal record and wake its waiters everywhere (logged, never raised)."""
        try:
            await self._state.update_task(record)
        except StateUnavailable:
            logger.warning("task %s ended but its state could not be recorded", str(record["id"])[:6])
        self._wake((str(record["server"]), str(record["id"])))
        ended = {"kind": "task-ended", "server": record["server"], "id": record["id"]}
        with contextlib.suppress(StateUnavailable):  # readers elsewhere fall back to re-reading
            await self._state.broadcast(ended)

    def _wake(self, key: Key) -> None:
        for event in self._waiters.get(key, ()):
            event.set()

    def _on_ended(self, message: dict[str, Any]) -> None:
        self._wake((str(message.get("server")), str(message.get("id"))))

    def _on_cancel(self, message: dict[str, Any]) -> None:
        entry = self._runners.get((str(message.get("server")), str(message.get("id"))))
        if entry is not None:
            runner, ctx = entry
            ctx.cancelled.set()
            runner.cancel()

    async def _load(self, server_id: str, task_id: Any) -> dict[str, Any]:
        record = await self._state.load_task(server_id, task_id) if isinstance(task_id, str) else None
        if record is None:
            raise JsonRpcError(INVALID_PARAMS, "Unknown task id")
        return await self._check_owner(record)

    async def _check_owner(
        self, record: dict[str, Any], alive: dict[str, bool] | None = None
    ) -> dict[str, Any]:
        """A `working` record whose owner is gone is closed as failed (and recorded so)."""
        if record["status"] in TERMINAL:
            return record
        owner = str(record.get("owner"))
        if owner == self._state.replica_id:
            if (str(record["server"]), str(record["id"])) in self._runners:
                return record
            message = "The task's final state could not be recorded"
        else:
            known = None if alive is None else alive.get(owner)
            if known is None:
                known = await self._state.replica_alive(owner)
                if alive is not None:
                    alive[owner] = known
            if known:
                return record
            message = _OWNER_GONE
        record.update(
            status="failed",
            message=message,
            updated=time.time(),
            error={"code": INTERNAL_ERROR, "message": message},
        )
        await self._publish(record)
        return record

    async def get(self, server_id: str, task_id: Any) -> dict[str, Any]:
        """The caller's Task object, or -32602 (another server's task looks unknown)."""
        return task_wire(await self.record(server_id, task_id))

    async def record(self, server_id: str, task_id: Any) -> dict[str, Any]:
        """The caller's task record, or -32602 (another server's task looks unknown)."""
        with _store_errors():
            return await self._load(server_id, task_id)

    async def list(self, server_id: str) -> list[dict[str, Any]]:
        """The server's Task objects, oldest first."""
        alive: dict[str, bool] = {}
        with _store_errors():
            records = await self._state.list_tasks(server_id)
            return [task_wire(await self._check_owner(r, alive)) for r in records]

    async def _wait(self, server_id: str, task_id: Any, timeout_s: float) -> dict[str, Any]:
        """The record once terminal, or as it stands after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        key = (server_id, str(task_id))
        poll = _FIRST_POLL_S
        while True:
            event = asyncio.Event()
            self._waiters.setdefault(key, set()).add(event)  # before reading: no wake-up is missed
            try:
                record = await self._load(server_id, task_id)
                remaining = deadline - loop.time()
                if record["status"] in TERMINAL or remaining <= 0:
                    return record
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, poll))
            finally:
                waiters = self._waiters.get(key)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._waiters[key]
            poll = min(poll * 2, _MAX_POLL_S)

    async def result(self, server_id: str, task_id: Any, timeout_s: float) -> dict[str, Any]:
        """Wait (up to `timeout_s`) for the task to end; its CallToolResult, or its error."""
        with _store_errors():
            record = await self._wait(server_id, task_id, timeout_s)
        if record["status"] not in TERMINAL:
            waited = f"{timeout_s:.0f} seconds"
            raise JsonRpcError(
                INTERNAL_ERROR, f"The task is still working after {waited}; call tasks/result again"
            )
        error = record.get("error")
        if isinstance(error, dict):
            code = int(error.get("code", INTERNAL_ERROR))
            raise JsonRpcError(code, str(error.get("message")), error.get("data"))
        if record.get("result") is None:
            raise JsonRpcError(INVALID_PARAMS, "The task was cancelled and has no result")
        result = dict(record["result"])
        result["_meta"] = {**result.get("_meta", {}), RELATED_TASK: {"taskId": record["id"]}}
        return result

    async def cancel(self, server_id: str, task_id: Any, *, ended_ok: bool = False) -> dict[str, Any]:
        """Cancel a running task wherever it runs; a finished one cannot be cancelled (-32602), unless
        `ended_ok` (2026-07-28: cancelling an ended task is acknowledged like any other)."""
        with _store_errors():
            record = await self._load(server_id, task_id)
            if record["status"] in TERMINAL:
                if ended_ok:
                    return task_wire(record)
                raise JsonRpcError(INVALID_PARAMS, f"Task already {record['status']}; it cannot be cancelled")
            entry = self._runners.get((server_id, record["id"]))
            if entry is not None:
                runner, ctx = entry
                ctx.cancelled.set()
                runner.cancel()
                await asyncio.wait({runner})
                return task_wire(self._cancelled(record) if runner.cancelled() else runner.result())
            message = {"kind": "task-cancel", "server": server_id, "id": record["id"]}
            owner = str(record["owner"])
            if not await self._state.send(owner, message):
                if await self._state.replica_alive(owner):  # alive but not listening (reconnecting)
                    raise JsonRpcError(
                        INTERNAL_ERROR,
                        "The replica running this task could not be reached; retry tasks/cancel",
                    )
                # Nobody holds the runner any more: close the record here.
                record = self._cancelled(record)
                await self._publish(record)
                return task_wire(record)
            return task_wire(await self._wait(server_id, record["id"], _CANCEL_WAIT_S))

    async def close(self) -> None:
        """Cancel the tasks running here (shutdown); their records say so."""
        self._closing = True
        runners = [runner for runner, _ in self._runners.values()]
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
        await asyncio.gather(*self._pending, return_exceptions=True)
