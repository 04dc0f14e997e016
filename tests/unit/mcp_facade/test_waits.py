"""Waiting for async work: terminal states, wait up, deadline, cancellation, progress."""

from __future__ import annotations

import asyncio
from typing import Any

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.mcp_facade.contracts import CallContext
from services.mcp_facade.tools.waits import dotted, is_terminal, wait_for_work

WORK = pb.AsyncWork(state_field="session.state", terminal_states=["completed", "failed", "idle"])


def states(*values: str) -> Any:
    remaining = list(values)

    async def poll() -> Any:
        state = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return {"session": {"state": state}}

    return poll


def context(seconds: float = 60.0) -> tuple[CallContext, list[tuple[float, str | None]]]:
    seen: list[tuple[float, str | None]] = []

    async def progress(value: float, total: float | None = None, message: str | None = None) -> None:
        seen.append((value, message))

    loop = asyncio.get_running_loop()
    return CallContext(deadline=loop.time() + seconds, progress=progress), seen


def test_dotted_paths_and_terminal_states() -> None:
    """Nested lookup and case-insensitive terminal matching."""
    assert dotted({"a": {"b": 1}}, "a.b") == 1 and dotted({"a": 1}, "a.b") is None
    # A number indexes a list (an organization evaluation run's first queued result: results.0.id).
    assert dotted({"r": [{"id": "x"}, {"id": "y"}]}, "r.1.id") == "y" and dotted({"r": []}, "r.0.id") is None
    assert (
        is_terminal(WORK, "COMPLETED") and not is_terminal(WORK, "processing") and not is_terminal(WORK, None)
    )


async def test_returns_at_a_terminal_state_with_increasing_progress() -> None:
    """Polls until terminal; progress values strictly increase and name the state."""
    ctx, seen = context()
    loop = asyncio.get_running_loop()
    outcome = await wait_for_work(
        states("queued", "processing", "completed"), WORK, 10, ctx, clock=loop.time, first_interval=0.001
    )
    assert outcome.reason == "terminal" and outcome.state == "completed"
    assert [v for v, _ in seen] == [1.0, 2.0]
    assert "queued" in (seen[0][1] or "") and "processing" in (seen[1][1] or "")


async def test_stops_when_the_wait_is_up() -> None:
    """A short wait ends with wait_up and the last state."""
    ctx, _ = context()
    loop = asyncio.get_running_loop()
    outcome = await wait_for_work(states("processing"), WORK, 0.05, ctx, clock=loop.time, first_interval=0.01)
    assert outcome.reason == "wait_up" and outcome.state == "processing"


async def test_stops_before_the_deadline() -> None:
    """The deadline (minus a margin) bounds a long wait."""
    ctx, _ = context(seconds=3.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = await wait_for_work(states("processing"), WORK, 100, ctx, clock=loop.time, first_interval=0.01)
    assert outcome.reason == "deadline" and loop.time() - started < 1.0


async def test_cancellation_ends_the_wait_promptly() -> None:
    """Setting ctx.cancelled stops a wait in its sleep."""
    ctx, _ = context()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, ctx.cancelled.set)
    started = loop.time()
    outcome = await wait_for_work(states("processing"), WORK, 30, ctx, clock=loop.time, first_interval=5)
    assert outcome.reason == "cancelled" and loop.time() - started < 2.0
