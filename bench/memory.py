"""Idle memory of the services `gumloop-mcp up` starts: resident (RSS), proportional (PSS) and unique (USS).

RSS counts every page a process maps, so summing it over processes counts the shared library pages
(Python's, grpc's cygrpc, ...) once per process; PSS divides each shared page among the processes that
map it, so the PSS of several processes adds up to what they take together. USS is what a process holds
alone (what stopping it would free).

`python -m bench.memory` starts the stack, waits until it is idle and prints the three per process,
without running the load benchmarks (section 6 of `python -m bench` reports the same figures);
`--python` starts the services with another interpreter (a virtual environment with the runtime
dependencies only, as in the image), `--runs` repeats the start for a median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import psutil

# The services `up` starts whose idle memory issue 18 bounds (the emulator is a test double, not counted).
SERVICES = ("tokens", "proxy", "facade")
MIB = 2**20
# How long the stack is left alone after `ready` before it is measured idle.
IDLE_SETTLE_S = 3.0


def memory_of(process: psutil.Process) -> dict[str, float]:
    """RSS, PSS and USS of `process` in MiB (PSS and USS from /proc/PID/smaps_rollup on Linux)."""
    with contextlib.suppress(psutil.Error):
        info = process.memory_full_info()
        out = {"rss": round(info.rss / MIB, 1), "uss": round(info.uss / MIB, 1)}
        pss = getattr(info, "pss", None)
        if pss is not None:
            out["pss"] = round(pss / MIB, 1)
        return out
    nan = float("nan")
    return {"rss": nan, "pss": nan, "uss": nan}


def memory_per_process(processes: dict[str, psutil.Process]) -> dict[str, dict[str, float]]:
    return {name: memory_of(process) for name, process in sorted(processes.items())}


def together(per_process: dict[str, dict[str, float]]) -> dict[str, float]:
    """The sums over tokens + proxy + façade: RSS (shared pages counted per process) and PSS."""
    out: dict[str, float] = {}
    for kind in ("rss", "pss", "uss"):
        values = [per_process[name][kind] for name in SERVICES if kind in per_process.get(name, {})]
        if len(values) == len(SERVICES):
            out[kind] = round(sum(values), 1)
    return out


async def measure_idle(python: str | None, settle_s: float) -> dict[str, Any]:
    from bench.stack import start_stack

    with tempfile.TemporaryDirectory(prefix="gmcp-mem-") as tmp:
        async with start_stack(Path(tmp) / "data", python=python) as stack:
            await asyncio.sleep(settle_s)
            per_process = memory_per_process(stack.service_processes())
    return {"per_process": per_process, "together": together(per_process)}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    names = runs[0]["per_process"].keys()
    per_process = {
        name: {
            kind: round(statistics.median(run["per_process"][name][kind] for run in runs), 1)
            for kind in runs[0]["per_process"][name]
        }
        for name in names
    }
    return {"per_process": per_process, "together": together(per_process)}


def print_memory(result: dict[str, Any]) -> None:
    print(f"{'process':<10} {'RSS':>7} {'PSS':>7} {'USS':>7}  (MiB)")
    for name, values in result["per_process"].items():
        cells = " ".join(f"{values.get(kind, float('nan')):7.1f}" for kind in ("rss", "pss", "uss"))
        print(f"{name:<10} {cells}")
    total = result["together"]
    cells = " ".join(f"{total.get(kind, float('nan')):7.1f}" for kind in ("rss", "pss", "uss"))
    print(f"{'together':<10} {cells}  (tokens + proxy + facade)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--python", help="the interpreter the stack runs on (default: this one)")
    parser.add_argument("--settle", type=float, default=IDLE_SETTLE_S, help="seconds idle after ready")
    parser.add_argument("--runs", type=int, default=1, help="start the stack this many times (median)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    runs = [asyncio.run(measure_idle(args.python, args.settle)) for _ in range(args.runs)]
    result = _median(runs) if len(runs) > 1 else runs[0]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_memory(result)


if __name__ == "__main__":
    main()
