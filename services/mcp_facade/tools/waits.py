"""Server-side waiting for async work (runs, sessions, agent interactions, exports).

A status tool called with ``wait_seconds`` polls its operation with growing intervals (0.5 s up to
5 s), reports each state as progress, and returns at a terminal state, at a paused state (the work
waits for a human: approvals.py says what and how to answer), when the wait is up, when
the call's deadline (minus a margin) is near, or when the client cancels. The model never needs a
polling loop of its own: at worst it calls again with wait_seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from ..contracts import CallContext

__all__ = ["WaitOutcome", "dotted", "is_paused", "is_terminal", "wait_for_work"]

FIRST_INTERVAL_S: Final = 0.5
MAX_INTERVAL_S: Final = 5.0
GROWTH: Final = 1.6
# Time kept back from the caller's deadline for the last answer to travel back.
DEADLINE_MARGIN_S: Final = 3.0


def dotted(value: Any, path: str) -> Any:
    """The value at a dotted path ("session.state", "results.0.id": a number indexes a list) of nested
    objects, or None."""
    for part in path.split(".") if path else []:
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
            continue
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def is_terminal(work: pb.AsyncWork, state: Any) -> bool:
    """Whether `state` is one of the work's terminal states (case-insensitive)."""
    if not isinstance(state, str):
        return False
    return state.lower() in {s.lower() for s in work.terminal_states}


def is_paused(work: pb.AsyncWork, state: Any) -> bool:
    """Whether `state` is one of the work's paused states (waiting for a human; case-insensitive)."""
    if not isinstance(state, str):
        return False
    return state.lower() in {s.lower() for s in work.paused_states}


@dataclass(frozen=True)
class WaitOutcome:
    """The last body read, its state, and why the wait ended."""

    body: Any
    state: Any
    # "terminal", "paused", "wait_up", "deadline" or "cancelled"
    reason: str
    waited_s: float


async def wait_for_work(
    poll: Callable[[], Awaitable[Any]],
    work: pb.AsyncWork,
    wait_seconds: float,
    ctx: CallContext,
    *,
    clock: Callable[[], float],
    first_interval: float = FIRST_INTERVAL_S,
    max_interval: float = MAX_INTERVAL_S,
) -> WaitOutcome:
    """Poll until a terminal state or the wait ends; the first poll happens at once.

    `poll` returns the status body (and raises on RPC failure, which ends the wait).
    """
    start = clock()
    end = min(start + wait_seconds, ctx.deadline - DEADLINE_MARGIN_S)
    interval = first_interval
    polls = 0
    while True:
        body = await poll()
        polls += 1
        state = dotted(body, work.state_field)
        if is_terminal(work, state):
            return WaitOutcome(body, state, "terminal", clock() - start)
        if is_paused(work, state):
            return WaitOutcome(body, state, "paused", clock() - start)
        now = clock()
        await ctx.progress(float(polls), None, f"state: {state}; waited {now - start:.0f}s")
        if ctx.cancelled.is_set():
            return WaitOutcome(body, state, "cancelled", now - start)
        remaining = end - now
        if remaining <= 0:
            reason = "deadline" if end < start + wait_seconds else "wait_up"
            return WaitOutcome(body, state, reason, now - start)
        delay = min(interval, remaining)
        try:
            await asyncio.wait_for(ctx.cancelled.wait(), delay)
        except TimeoutError:
            pass
        else:
            return WaitOutcome(body, state, "cancelled", clock() - start)
        interval = min(max_interval, interval * GROWTH)
