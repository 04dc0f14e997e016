"""`python -m bench` (or `make bench`): run every benchmark side by side, print a table, write JSON.

Everything is measured in one run against the bundled emulator on loopback, so ratios hold on a noisy
machine. Benchmarks report; they never gate.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from bench import scenarios
from bench.context import context_per_preset
from bench.memory import IDLE_SETTLE_S, memory_of, memory_per_process, together
from bench.report import print_report
from bench.stack import start_facade_replica, start_peer, start_stack

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


async def run(quick: bool, python: str | None = None) -> dict[str, Any]:
    """Every benchmark; `python` runs the services (`up` and the second façade) on another interpreter."""
    levels = [1, 16, 64] if quick else [1, 16, 64, 256]
    samples = 150 if quick else 400
    results: dict[str, Any] = {
        "machine": machine(),
        "quick": quick,
        "services_python": python or sys.executable,
    }
    # per scope preset, from the committed catalog as the façade publishes it (no stack needed)
    results["context_presets"] = context_per_preset()
    with tempfile.TemporaryDirectory(prefix="gmcp-bench-") as tmp:
        limits = {"GMCP_FACADE_CALLS_PER_MINUTE": "100000000"}
        async with start_stack(Path(tmp) / "data", limits, python=python) as stack:
            processes = stack.service_processes()
            await asyncio.sleep(IDLE_SETTLE_S)  # idle: start-up work (first sweeps, GC) done
            idle = memory_per_process(processes)
            # RSS, PSS and USS per process; "together" sums tokens + proxy + façade (PSS: shared pages once)
            results["memory_idle"] = {"per_process": idle, "together": together(idle)}
            results["memory_idle_mib"] = {name: values["rss"] for name, values in idle.items()}
            servers = await scenarios.mint_servers(stack)
            openapi_path = Path(tmp) / "openapi.json"
            await scenarios.write_peer_openapi(stack, openapi_path)
            async with start_peer(stack.emulator_url, openapi_path) as (peer_url, peer_process):
                results["loadgen_ceiling"] = await scenarios.loadgen_ceiling(stack, levels, samples)
                results["overhead"] = await scenarios.overhead(stack, servers, peer_url, samples)
                results["throughput"] = await scenarios.throughput(stack, servers, peer_url, levels, samples)
                scenarios.flag_loadgen_bound(results["throughput"], results["loadgen_ceiling"])
                results["context_cost"] = await scenarios.context_cost(stack, servers, peer_url)
                results["memory_idle"]["per_process"]["fastmcp_peer"] = memory_of(peer_process)
                results["memory_idle_mib"]["fastmcp_peer"] = scenarios.rss_of(peer_process)
            async with start_facade_replica(stack, python=python) as (replica_url, _replica):
                results["token_resolution"] = await scenarios.token_resolution(stack, replica_url, quick)
            results["memory_loaded"] = await scenarios.memory_with_open_streams(
                stack, servers, processes, 300 if quick else 1000
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples and concurrency levels")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument(
        "--python", help="interpreter of the services (scripts/bench: the runtime-only environment)"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.quick, args.python))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results, sys.stdout)
    print(f"\nJSON written to {args.out}")


if __name__ == "__main__":
    main()
