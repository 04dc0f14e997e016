"""Latency of one tool call at concurrency 1, hop by hop, with optional A/B and py-spy profiles.

`python -m bench.profile_call` starts the stack as the benchmark does (`gumloop-mcp up --json` on the
emulator, every port free-picked) and sends N sequential requests per probe, in alternating rounds:

- `direct`     GET /teams straight to the emulator (the upstream's own time plus one HTTP hop);
- `grpc_dry`   InvokeOperation(list_teams, validate_only) to the proxy: the gRPC hop and the proxy's
               work before going upstream (account lookup, argument validation, request building);
- `grpc`       InvokeOperation(list_teams) to the proxy: gRPC hop + proxy + upstream;
- `ping`       a stateless `server/discover` through the façade (2026-07-28 removed `ping`): HTTP hop,
                token cache, JSON-RPC, no tool;
- `stateless`  tools/call list_all_gumloop_teams, 2026-07-28 (the benchmark's overhead probe);
- `session`    the same call on a 2025-11-25 session.

Differences between probes give each hop's share (e.g. `stateless - grpc` is the façade's own time
plus its HTTP hop). `--baseline REF` also starts a second stack from `git archive REF` (a copy of
that commit's tree in a temporary directory) and alternates the two, so a change is measured against
its parent in the same run on the same noisy machine (`--baseline .` runs the working tree twice,
with `--env KEY=VALUE` applied to the second stack only, to try a setting). `--profile DIR` then
drives the stateless and session paths under py-spy on every service (collapsed stacks in DIR,
`--native` for C frames) and prints each process's heaviest functions, idle waits left out.

After the latencies, the CPU time each service process spends per stateless tools/call (user + system,
from the kernel's accounting, over alternated batches) is printed per target: unlike latency, it hardly
moves when other work shares the cores, so small wins show there first; it is what bounds throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import psutil

from bench import mcp_wire
from bench.scenarios import EMULATOR_HEADERS, OUR_TOOL, SCOPES, mint
from bench.stack import READY_TIMEOUT_S, Stack, _drain, _read_json_lines_until, _stop
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.runtime import create_channel

ROOT = Path(__file__).resolve().parents[1]
PROBES = ("direct", "grpc_dry", "grpc", "ping", "stateless", "session")
Probe = Callable[[], Awaitable[bool]]


@contextlib.asynccontextmanager
async def start_stack_from(
    root: Path, data_dir: Path, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Stack]:
    """`gumloop-mcp up --json` from the source tree at `root` (its src/ and services/ first on the path)."""
    env = {
        **os.environ,
        "GMCP_FACADE_CALLS_PER_MINUTE": "100000000",
        "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)]),
        **(extra_env or {}),
    }
    for key in ("GUMLOOP_API_KEY", "GUMLOOP_ACCESS_TOKEN"):
        env.pop(key, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gumloop_mcp.cli", "up", "--json",
        "--mcp-port", "0", "--admin-port", "0", "--tokens-port", "0", "--proxy-port", "0",
        "--emulator-port", "0", "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=root,
    )  # fmt: skip
    drain_err = asyncio.create_task(_drain(process.stderr))
    drain_out: asyncio.Task[None] | None = None
    try:
        ready = await _read_json_lines_until(process, lambda e: e.get("event") == "ready", READY_TIMEOUT_S)
        drain_out = asyncio.create_task(_drain(process.stdout))
        yield Stack(ready=ready, process=process, data_dir=data_dir)
    finally:
        await _stop(process)
        drain_err.cancel()
        if drain_out is not None:
            drain_out.cancel()


class Target:
    """One running stack and a probe function per hop."""

    def __init__(self, label: str, stack: Stack, http: aiohttp.ClientSession) -> None:
        self.label = label
        self.stack = stack
        self.http = http
        # The probe calls the proxy like the façade does: on an authenticated channel.
        self.channel = create_channel(
            str(stack.ready["proxy_grpc"]), caller_token=stack.caller_token("cli", "proxy")
        )
        self.proxy = ProxyServiceStub(self.channel)
        self.url = ""
        self.session_id = ""
        self.samples: dict[str, list[float]] = collections.defaultdict(list)

    async def prepare(self) -> None:
        minted = await mint(self.stack, f"profile-{self.label}", SCOPES["all"])
        self.url = str(minted["url"])
        self.session_id = await mcp_wire.open_session(self.http, self.url)

    async def close(self) -> None:
        await self.channel.close()

    def probes(self) -> dict[str, Probe]:
        account = str(self.stack.ready["account_id"])
        direct_url = f"{self.stack.emulator_url}/api/v1/teams"

        async def direct() -> bool:
            async with self.http.get(direct_url, headers=EMULATOR_HEADERS) as response:
                await response.read()
                return response.status == 200

        async def invoke(validate_only: bool) -> bool:
            request = pb.InvokeOperationRequest(
                account_id=account, operation="list_teams", arguments_json="{}", validate_only=validate_only
            )
            await self.proxy.InvokeOperation(request, timeout=10)
            return True

        async def ping() -> bool:
            status, message = await mcp_wire.modern_request(self.http, self.url, "server/discover", {})
            return status == 200 and "result" in message

        async def stateless() -> bool:
            status, message = await mcp_wire.modern_tool_call(self.http, self.url, OUR_TOOL, {})
            return mcp_wire.succeeded(status, message)

        async def session() -> bool:
            params = {"name": OUR_TOOL, "arguments": {}}
            status, message = await mcp_wire.session_request(
                self.http, self.url, self.session_id, "tools/call", params
            )
            return mcp_wire.succeeded(status, message)

        return {
            "direct": direct,
            "grpc_dry": lambda: invoke(True),
            "grpc": lambda: invoke(False),
            "ping": ping,
            "stateless": stateless,
            "session": session,
        }


async def _timed(probe: Probe, n: int, out: list[float]) -> None:
    for _ in range(n):
        started = time.perf_counter_ns()
        ok = await probe()
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if not ok:
            raise RuntimeError("a probe failed; the stack is not answering as expected")
        out.append(elapsed)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


async def measure(targets: list[Target], n: int, rounds: int, warmup: int) -> None:
    """`rounds` rounds of `n` requests per probe and target, in a shuffled order each round."""
    for target in targets:
        for name, probe in target.probes().items():
            await _timed(probe, warmup, [])
            del name
    for _ in range(rounds):
        plan = [(t, name) for t in targets for name in PROBES]
        random.shuffle(plan)
        for target, name in plan:
            await _timed(target.probes()[name], n, target.samples[name])


CPU_SERVICES = ("facade", "proxy", "tokens")
# Also read, not counted in the services' total: `gumloop-mcp up` copies every child's log lines.
CPU_OTHERS = ("launcher", "emulator")


async def measure_cpu(targets: list[Target], n: int, rounds: int) -> dict[str, dict[str, float]]:
    """CPU milliseconds per stateless tools/call in each service process, per target label."""
    spent: dict[str, collections.Counter[str]] = {t.label: collections.Counter() for t in targets}
    calls: collections.Counter[str] = collections.Counter()
    for _ in range(rounds):
        for target in random.sample(targets, len(targets)):
            processes = {
                **target.stack.service_processes(),
                "launcher": psutil.Process(target.stack.process.pid),
            }
            before = {name: processes[name].cpu_times() for name in (*CPU_SERVICES, *CPU_OTHERS)}
            await _timed(target.probes()["stateless"], n, [])
            for name in (*CPU_SERVICES, *CPU_OTHERS):
                after = processes[name].cpu_times()
                spent[target.label][name] += (after.user + after.system) - (
                    before[name].user + before[name].system
                )
            calls[target.label] += n
    return {
        label: {name: 1000 * seconds / calls[label] for name, seconds in by_service.items()}
        for label, by_service in spent.items()
    }


def report_cpu(cpu: dict[str, dict[str, float]]) -> None:
    print("\nCPU ms per stateless tools/call (user + system); total = façade + proxy + tokens")
    for name in (*CPU_SERVICES, "total", *CPU_OTHERS):
        row = f"{name:<10}"
        for label, by_service in cpu.items():
            services = (by_service[service] for service in CPU_SERVICES)
            value = sum(services) if name == "total" else by_service.get(name, 0.0)
            row += f"  {label}={value:7.3f}"
        print(row)


def report(targets: list[Target]) -> None:
    """p50/p90 per probe and target, and each hop's share derived from the p50s."""
    head = f"{'probe':<10}" + "".join(f"  {t.label + ' p50':>12}  {t.label + ' p90':>12}" for t in targets)
    print(head)
    print("-" * len(head))
    for name in PROBES:
        row = f"{name:<10}"
        for t in targets:
            row += f"  {_pct(t.samples[name], 50):12.3f}  {_pct(t.samples[name], 90):12.3f}"
        print(row)
    print("\nderived from p50 (ms)")
    derived = [
        ("upstream (direct HTTP)", lambda p: p["direct"]),
        ("gRPC hop + proxy before upstream", lambda p: p["grpc_dry"]),
        ("proxy upstream part (grpc - grpc_dry)", lambda p: p["grpc"] - p["grpc_dry"]),
        ("  of which proxy's own (grpc - grpc_dry - direct)", lambda p: p["grpc"] - p["grpc_dry"] - p["direct"]),
        ("façade HTTP + auth + JSON-RPC (server/discover)", lambda p: p["ping"]),
        ("façade tool path (stateless - ping - grpc)", lambda p: p["stateless"] - p["ping"] - p["grpc"]),
        ("session - stateless", lambda p: p["session"] - p["stateless"]),
    ]  # fmt: skip
    for label, fn in derived:
        row = f"{label:<52}"
        for t in targets:
            p50 = {name: _pct(values, 50) for name, values in t.samples.items()}
            row += f"  {t.label}={fn(p50):7.3f}"
        print(row)


# -- profiling ------------------------------------------------------------------------------


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


async def profile(target: Target, out_dir: Path, seconds: float, rate: int, native: bool) -> None:
    """Drive the stateless then the session path while py-spy samples the façade and the proxy."""
    out_dir.mkdir(parents=True, exist_ok=True)
    processes = target.stack.service_processes()
    probes = target.probes()
    for path in ("stateless", "session"):
        recorders = []
        for service in ("facade", "proxy", "tokens", "emulator"):
            base = out_dir / f"{path}-{service}"
            for fmt, suffix in (("raw", ".txt"),):
                recorders.append(
                    subprocess.Popen(
                        [
                            _py_spy(),
                            "record",
                            "--pid",
                            str(processes[service].pid),
                            "--rate",
                            str(rate),
                            "--duration",
                            str(int(seconds)),
                            "--format",
                            fmt,
                            "--output",
                            f"{base}{suffix}",
                            *(["--native"] if native else []),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                )
        await asyncio.sleep(1.0)  # py-spy attaches
        deadline = time.monotonic() + seconds - 1.5
        count = 0
        while time.monotonic() < deadline:
            await probes[path]()
            count += 1
        for recorder in recorders:
            await asyncio.to_thread(recorder.wait)
        print(f"\n== profile of the {path} path: {count} calls in ~{seconds - 2.5:.0f}s")
        for service in ("facade", "proxy", "tokens", "emulator"):
            summarize(out_dir / f"{path}-{service}.txt", service, count)


def summarize(collapsed: Path, service: str, calls: int, top: int = 28) -> None:
    """Inclusive and self sample shares of the heaviest functions in a py-spy collapsed-stack file."""
    if not collapsed.exists():
        print(f"  ({service}: no profile written)")
        return
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_short(f) for f in stack.split(";")]
        if frames[-1].startswith(_IDLE):
            idle += count
            continue
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    busy = total - idle  # shares are of the busy samples: the idle poll is not work
    if busy <= 0:
        print(f"\n-- {service}: no busy samples ({idle} idle left out)")
        return
    print(f"\n-- {service}: {busy} busy samples ({busy / max(calls, 1):.2f} per call; {idle} idle left out)")
    print(f"  {'incl%':>6} {'self%':>6}  function")
    for frame, count in inclusive.most_common(top):
        print(f"  {100 * count / busy:6.1f} {100 * own[frame] / busy:6.1f}  {frame}")
    print(f"  top self: {', '.join(f'{f} {100 * c / busy:.1f}%' for f, c in own.most_common(12))}")


# Leaf frames that mean "waiting", not working: the event loop's poll and idle worker threads. On uvloop
# the poll runs in C under the `Runner.run` frame, so without --native a leaf `Runner.run` is (mostly) the
# idle poll: counted as busy, it was 25-31% of every service's samples, and all of an idle token service's.
# uvloop's own C work (socket reads and writes it does for a Python caller) shows under that caller.
_IDLE = (
    "EpollSelector.select",
    "epoll_wait",
    "epoll_pwait",
    "select (",
    "Thread.run (",
    "_worker (",
    "wait (threading",
    "Runner.run (asyncio/runners.py)",
)


def _short(frame: str) -> str:
    # py-spy frames look like "function (path/to/file.py:123)"; keep the function and the file's tail.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit(":", 1)[0]
    parts = Path(file).parts
    tail = "/".join(parts[-2:]) if parts else file
    return f"{name} ({tail})"


# -- main -----------------------------------------------------------------------------------


def _export(ref: str, into: Path) -> Path:
    """The tree of commit `ref` in `into` (git archive: no change to the repository or its index)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gmcp-profile-") as tmp_text:
        tmp = Path(tmp_text)
        roots = [("B", ROOT)]
        if args.baseline is not None:
            # "." compares the working tree with itself (e.g. to try a setting with --env).
            baseline = ROOT if args.baseline == "." else _export(args.baseline, tmp / "a")
            roots.insert(0, ("A", baseline))
        async with contextlib.AsyncExitStack() as exits:
            connector = aiohttp.TCPConnector(limit=8)
            http = await exits.enter_async_context(aiohttp.ClientSession(connector=connector))
            targets = []
            for label, root in roots:
                extra = dict(item.split("=", 1) for item in args.env) if label == "B" else {}
                stack = await exits.enter_async_context(start_stack_from(root, tmp / f"data-{label}", extra))
                target = Target(label, stack, http)
                exits.push_async_callback(target.close)
                await target.prepare()
                targets.append(target)
            print(f"stacks: {', '.join(f'{label}={root}' for label, root in roots)}; "
                  f"{args.rounds} rounds x {args.n} requests per probe, concurrency 1\n")  # fmt: skip
            await measure(targets, args.n, args.rounds, args.warmup)
            report(targets)
            if args.cpu_calls > 0:
                report_cpu(await measure_cpu(targets, args.cpu_calls, args.rounds))
            if args.profile is not None:
                await profile(targets[-1], args.profile, args.profile_seconds, args.rate, args.native)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100, help="requests per probe and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--baseline",
        help="git ref to compare against (started from `git archive REF`; '.' = the working tree)",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="extra environment for the current tree's stack (B) only, e.g. to try a setting",
    )  # fmt: skip
    parser.add_argument(
        "--cpu-calls", type=int, default=200,
        help="stateless calls per target and round for the CPU-per-call figure (0: skip it)",
    )  # fmt: skip
    parser.add_argument("--profile", type=Path, help="directory for py-spy profiles of the current tree")
    parser.add_argument("--profile-seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=int, default=400, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="py-spy --native (C/Cython frames too)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
