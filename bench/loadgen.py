"""A closed-loop HTTP load generator: N workers, each sending its next request when the last one answers.

Latencies are measured per request with perf_counter_ns; the generator's own ceiling is measured in the
same run against the cheapest endpoint there is (bench.scenarios.loadgen_ceiling, at every concurrency
level), so a result near that ceiling is flagged (flag_loadgen_bound) as possibly bounded by
the generator rather than by the system under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# A request function gets the shared session and the worker index and returns True when the answer was
# a success (HTTP 2xx and, for tool calls, no error in the body).
RequestFn = Callable[[aiohttp.ClientSession, int], Awaitable[bool]]
# Runs once per worker before the timed phase (e.g. an MCP initialize); returns per-worker state.
SetupFn = Callable[[aiohttp.ClientSession, int], Awaitable[Any]]


@dataclass
class LoadResult:
    """Outcome of one load run."""

    name: str
    concurrency: int
    requests: int
    errors: int
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def throughput(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[index]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "duration_s": round(self.duration_s, 3),
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.percentile(50), 3),
            "p90_ms": round(self.percentile(90), 3),
            "p99_ms": round(self.percentile(99), 3),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 3) if self.latencies_ms else None,
        }


async def run_load(
    name: str,
    request: Callable[[aiohttp.ClientSession, Any], Awaitable[bool]],
    *,
    concurrency: int,
    total_requests: int,
    warmup_requests: int = 0,
    setup: SetupFn | None = None,
    timeout_s: float = 30.0,
    max_duration_s: float = 60.0,
) -> LoadResult:
    """Send `total_requests` requests from `concurrency` workers and measure each one.

    Each worker's state comes from `setup(session, worker_index)` (default: the index). The run stops
    early, bounded in time, at `max_duration_s`.
    """
    connector = aiohttp.TCPConnector(limit=concurrency + 8, limit_per_host=concurrency + 8, force_close=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    result = LoadResult(name=name, concurrency=concurrency, requests=0, errors=0, duration_s=0.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        states = [await setup(session, i) if setup else i for i in range(concurrency)]
        remaining_warmup = [warmup_requests]

        async def warm(state: Any) -> None:
            while remaining_warmup[0] > 0:
                remaining_warmup[0] -= 1
                with contextlib.suppress(Exception):
                    await request(session, state)

        await asyncio.gather(*(warm(s) for s in states))
        remaining = [total_requests]
        deadline = time.monotonic() + max_duration_s

        async def worker(state: Any) -> None:
            while remaining[0] > 0 and time.monotonic() < deadline:
                remaining[0] -= 1
                started = time.perf_counter_ns()
                try:
                    ok = await request(session, state)
                except Exception:
                    ok = False
                result.latencies_ms.append((time.perf_counter_ns() - started) / 1e6)
                result.requests += 1
                if not ok:
                    result.errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(s) for s in states))
        result.duration_s = time.perf_counter() - started
    return result
