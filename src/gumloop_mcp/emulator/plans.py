"""Gumloop's plans as concurrency limits: how many workflow runs and agent interactions may be in progress
at once (org-wide), and what happens at the limit.

    plan         workflow runs   agent interactions   at the limit
    free               2                 5             429 rate_limit_exceeded
    pro                5                25             429 rate_limit_exceeded
    enterprise        15               100             queued (runs QUEUED, sessions queued + queue_position)

Queued work does not count against the limit. Without a plan the emulator keeps its historical behaviour:
one pool of ``max_concurrent_runs`` (default 3) shared by runs and agent interactions, refusing with 429.
An explicit ``max_concurrent_runs`` always wins over a plan's numbers (one shared pool of that size) while
the plan still decides between 429 and queueing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Plan = Literal["free", "pro", "enterprise"]
Pool = Literal["runs", "agents", "shared"]

PLAN_LIMITS: dict[str, tuple[int, int]] = {"free": (2, 5), "pro": (5, 25), "enterprise": (15, 100)}
DEFAULT_SHARED_LIMIT = 3


@dataclass(frozen=True)
class Concurrency:
    """The limits one emulator enforces."""

    runs: int
    agents: int
    queue: bool = False
    shared: bool = False

    def pool(self, kind: str) -> Pool:
        """The pool a kind of work ("run", "session", "interaction") counts against."""
        if self.shared:
            return "shared"
        return "runs" if kind == "run" else "agents"

    def limit(self, pool: Pool) -> int:
        """How many items of ``pool`` may be in progress at once."""
        return self.agents if pool == "agents" else self.runs

    @staticmethod
    def noun(pool: Pool) -> str:
        """How error messages name a pool's work."""
        return {"runs": "workflow runs", "agents": "agent interactions", "shared": "runs"}[pool]


def concurrency(plan: Plan | None, max_concurrent_runs: int | None) -> Concurrency:
    """The limits for a plan, with an explicit ``max_concurrent_runs`` overriding its numbers."""
    queue = plan == "enterprise"
    if max_concurrent_runs is not None:
        return Concurrency(max_concurrent_runs, max_concurrent_runs, queue=queue, shared=True)
    if plan is None:
        return Concurrency(DEFAULT_SHARED_LIMIT, DEFAULT_SHARED_LIMIT, shared=True)
    runs, agents = PLAN_LIMITS[plan]
    return Concurrency(runs, agents, queue=queue)
