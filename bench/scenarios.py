"""The six measurements of the benchmark suite, each against the running stack."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench import mcp_wire
from bench.loadgen import run_load
from bench.openapi_from_catalog import build_openapi, fetch_operations
from bench.stack import Stack

EMULATOR_HEADERS = {"Authorization": "Bearer gl-emulator-key", "x-auth-key": "emu_user_1"}
# The light read tool: GET /teams upstream, no arguments, a small answer.
OUR_TOOL = "list_all_gumloop_teams"
PEER_TOOL = "list_teams"
SCOPES = {
    "all": {"methods": ["read", "write", "custom"], "tags": []},
    "read_only": {"methods": ["read"], "tags": []},
    "single_tag": {"methods": ["read", "write", "custom"], "tags": ["sessions"]},
}


def rss_of(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        return round(process.memory_info().rss / 2**20, 1)
    return float("nan")


def rss_mib(processes: dict[str, psutil.Process]) -> dict[str, float]:
    return {name: rss_of(process) for name, process in sorted(processes.items())}


async def _admin(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {stack.ready['api_token']}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{stack.admin_url}{path}", json=body, headers=headers) as response,
    ):
        text = await response.text()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {text[:300]}")
        return json.loads(text) if text else None


async def mint(stack: Stack, name: str, config: dict[str, Any]) -> dict[str, Any]:
    body = {"name": name, "config": config, "expires_at": None, "require_api_token_auth": False}
    result: dict[str, Any] = await _admin(
        stack, "POST", f"/integrated-account/{stack.ready['account_id']}/mcp", body
    )
    return result


async def mint_servers(stack: Stack) -> dict[str, str]:
    """One MCP URL per scope preset."""
    return {name: (await mint(stack, f"bench-{name}", config))["url"] for name, config in SCOPES.items()}


async def write_peer_openapi(stack: Stack, path: Path) -> None:
    operations = await fetch_operations(str(stack.ready["proxy_grpc"]), stack.caller_token("cli", "proxy"))
    spec = build_openapi(operations, f"{stack.emulator_url}/api/v1")
    path.write_text(json.dumps(spec))


async def _peer_call(session: aiohttp.ClientSession, url: str) -> bool:
    status, message = await mcp_wire.modern_tool_call(session, url, PEER_TOOL, {})
    return mcp_wire.succeeded(status, message)


async def loadgen_ceiling(stack: Stack, levels: list[int], samples: int) -> dict[str, Any]:
    """The load generator's own ceiling at every concurrency level the throughput runs use.

    The cheapest endpoint there is (the emulator's health route, in another process): what the
    generator can send and read per second when the system under test costs next to nothing.
    """
    url = f"{stack.emulator_url}/__emulator/health"

    async def hit(session: aiohttp.ClientSession, _: Any) -> bool:
        async with session.get(url) as response:
            await response.read()
            return response.status == 200

    rows = []
    for level in levels:
        result = await run_load(
            f"loadgen ceiling c={level}",
            hit,
            concurrency=level,
            total_requests=max(samples * 5, level * 20),
            warmup_requests=min(200, samples),
        )
        rows.append(result.summary())
    best = max(rows, key=lambda r: r["throughput_rps"])
    return {"endpoint": "GET /__emulator/health", "levels": rows, **best}


# A throughput above this share of the generator's own ceiling at the same concurrency may be bounded
# by the generator rather than by the system under test: such rows are flagged.
LOADGEN_BOUND_SHARE = 0.5


def flag_loadgen_bound(rows: list[dict[str, Any]], ceiling: dict[str, Any]) -> None:
    """Mark each throughput row with the generator's ceiling at its level and whether it came near it."""
    by_level = {r["concurrency"]: r["throughput_rps"] for r in ceiling["levels"]}
    for row in rows:
        limit = by_level.get(row["concurrency"])
        if limit is None:
            continue
        fastest = max(row[name]["throughput_rps"] for name in ("stateless", "session", "fastmcp_peer"))
        row["loadgen_ceiling_rps"] = limit
        row["bounded_by_loadgen"] = fastest > LOADGEN_BOUND_SHARE * limit


async def overhead(stack: Stack, servers: dict[str, str], peer_url: str, samples: int) -> dict[str, Any]:
    """One light read, one at a time: straight to the emulator, through our stack, through the peer."""
    direct_url = f"{stack.emulator_url}/api/v1/teams"
    ours = servers["all"]

    async def direct(session: aiohttp.ClientSession, _: Any) -> bool:
        async with session.get(direct_url, headers=EMULATOR_HEADERS) as response:
            await response.read()
            return response.status == 200

    async def facade(session: aiohttp.ClientSession, _: Any) -> bool:
        status, message = await mcp_wire.modern_tool_call(session, ours, OUR_TOOL, {})
        return mcp_wire.succeeded(status, message)

    async def peer(session: aiohttp.ClientSession, _: Any) -> bool:
        return await _peer_call(session, peer_url)

    runs = {
        "direct_emulator": await run_load(
            "direct", direct, concurrency=1, total_requests=samples, warmup_requests=20
        ),
        "gumloop_mcp": await run_load(
            "ours", facade, concurrency=1, total_requests=samples, warmup_requests=20
        ),
        "fastmcp_peer": await run_load(
            "peer", peer, concurrency=1, total_requests=samples, warmup_requests=20
        ),
    }
    out: dict[str, Any] = {name: run.summary() for name, run in runs.items()}
    base = runs["direct_emulator"]
    for name in ("gumloop_mcp", "fastmcp_peer"):
        out[name]["p50_ratio_to_direct"] = round(runs[name].percentile(50) / base.percentile(50), 2)
        out[name]["p99_ratio_to_direct"] = round(runs[name].percentile(99) / base.percentile(99), 2)
    out["gumloop_mcp"]["p50_ratio_to_peer"] = round(
        runs["gumloop_mcp"].percentile(50) / runs["fastmcp_peer"].percentile(50), 2
    )
    return out


async def throughput(
    stack: Stack, servers: dict[str, str], peer_url: str, levels: list[int], samples: int
) -> list[dict[str, Any]]:
    """tools/call per second at each concurrency level: stateless path, session path, peer."""
    ours = servers["all"]

    async def stateless(session: aiohttp.ClientSession, _: Any) -> bool:
        status, message = await mcp_wire.modern_tool_call(session, ours, OUR_TOOL, {})
        return mcp_wire.succeeded(status, message)

    async def setup_session(session: aiohttp.ClientSession, _: int) -> str:
        return await mcp_wire.open_session(session, ours)

    async def on_session(session: aiohttp.ClientSession, session_id: str) -> bool:
        params = {"name": OUR_TOOL, "arguments": {}}
        status, message = await mcp_wire.session_request(session, ours, session_id, "tools/call", params)
        return mcp_wire.succeeded(status, message)

    async def peer(session: aiohttp.ClientSession, _: Any) -> bool:
        return await _peer_call(session, peer_url)

    rows = []
    for level in levels:
        total = max(samples, level * 8)
        row: dict[str, Any] = {"concurrency": level}
        for name, fn, setup in (
            ("stateless", stateless, None),
            ("session", on_session, setup_session),
            ("fastmcp_peer", peer, None),
        ):
            # One untimed request per worker first: every path starts with its connections open, as the
            # session path's setup (initialize) opens them. Without it the stateless and peer runs timed
            # `level` TCP connects and first requests, which made most of their p99 in a quick run.
            run = await run_load(
                name,
                fn,
                concurrency=level,
                total_requests=total,
                warmup_requests=level,
                setup=setup,
                max_duration_s=30,
            )
            row[name] = run.summary()
        row["stateless_ratio_to_peer"] = round(
            row["stateless"]["throughput_rps"] / max(row["fastmcp_peer"]["throughput_rps"], 1e-9), 2
        )
        row["session_ratio_to_peer"] = round(
            row["session"]["throughput_rps"] / max(row["fastmcp_peer"]["throughput_rps"], 1e-9), 2
        )
        rows.append(row)
    return rows


async def _list_all_tools(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"cursor": cursor} if cursor else {}
        status, message = await mcp_wire.modern_request(session, url, "tools/list", params)
        result = message.get("result") or {}
        if status != 200 or "tools" not in result:
            raise RuntimeError(f"tools/list failed: HTTP {status} {str(message)[:200]}")
        tools.extend(result["tools"])
        cursor = result.get("nextCursor")
        if not cursor:
            break
    return tools


def _cost(tools: list[dict[str, Any]]) -> dict[str, Any]:
    encoded = json.dumps(tools, separators=(",", ":"))
    largest = max(tools, key=lambda t: len(json.dumps(t, separators=(",", ":"))), default={})
    largest_bytes = len(json.dumps(largest, separators=(",", ":"))) if largest else 0
    return {
        "tools": len(tools),
        "bytes": len(encoded.encode()),
        # About four characters per token for JSON-heavy English text: an estimate, not a tokenizer.
        "est_tokens": math.ceil(len(encoded) / 4),
        "largest_tool": largest.get("name"),
        "largest_tool_bytes": largest_bytes,
    }


async def context_cost(stack: Stack, servers: dict[str, str], peer_url: str) -> dict[str, Any]:
    """Size of tools/list per scope preset, and the peer's for the same catalog."""
    async with aiohttp.ClientSession() as session:
        out = {name: _cost(await _list_all_tools(session, url)) for name, url in servers.items()}
        out["fastmcp_peer_all"] = _cost(await _list_all_tools(session, peer_url))
    return out


async def _discover(session: aiohttp.ClientSession, url: str) -> int:
    status, _ = await mcp_wire.modern_request(session, url, "server/discover", {})
    return status


async def token_resolution(stack: Stack, replica_base: str, quick: bool) -> dict[str, Any]:
    """Cold and warm resolution through the façade, and revocation felt by two replicas."""
    count = 20 if quick else 50
    cold, warm = [], []
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            url = (await mint(stack, f"bench-resolve-{i}", SCOPES["read_only"]))["url"]
            started = time.perf_counter()
            assert await _discover(session, url) == 200
            cold.append((time.perf_counter() - started) * 1000)
            for _ in range(3):
                started = time.perf_counter()
                await _discover(session, url)
                warm.append((time.perf_counter() - started) * 1000)
        trials = [await _revocation_trial(stack, session, replica_base, i) for i in range(3 if quick else 5)]
    accepted = [t[0] for t in trials]
    denied = [t[1] for t in trials]
    return {
        "cold_p50_ms": round(statistics.median(cold), 3),
        "warm_p50_ms": round(statistics.median(warm), 3),
        "cold_to_warm_ratio": round(statistics.median(cold) / statistics.median(warm), 2),
        "revocation_trials_ms": [round(t, 1) for t in accepted],
        "revocation_max_ms": round(max(accepted), 1),
        "revocation_denied_both_max_ms": round(max(denied), 1),
    }


async def _revocation_trial(
    stack: Stack, session: aiohttp.ClientSession, replica_base: str, n: int
) -> tuple[float, float]:
    """Delete a server while both replicas serve it.

    Returns ms from the delete's answer to the last request accepted (0: none after it) and ms from the
    delete's answer until both replicas deny.
    """
    minted = await mint(stack, f"bench-revoke-{n}", SCOPES["read_only"])
    primary_url = minted["url"]
    replica_url = replica_base + primary_url[primary_url.index("/mcp/") :]
    last_ok = [0.0, 0.0]
    first_denied = [0.0, 0.0]
    deleted_at: list[float] = []
    denied = [asyncio.Event(), asyncio.Event()]

    async def hammer(index: int, url: str) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = await _discover(session, url)
            if status == 200:
                last_ok[index] = time.monotonic()
            elif deleted_at and status == 404:
                first_denied[index] = time.monotonic()
                denied[index].set()
                return

    tasks = [asyncio.create_task(hammer(0, primary_url)), asyncio.create_task(hammer(1, replica_url))]
    await asyncio.sleep(0.5)
    await _admin(stack, "DELETE", f"/integrated-account/{stack.ready['account_id']}/mcp/{minted['id']}")
    deleted_at.append(time.monotonic())
    await asyncio.gather(*tasks)
    return (
        max(0.0, (max(last_ok) - deleted_at[0]) * 1000),
        max(0.0, (max(first_denied) - deleted_at[0]) * 1000),
    )


async def memory_with_open_streams(
    stack: Stack, servers: dict[str, str], processes: dict[str, psutil.Process], count: int
) -> dict[str, Any]:
    """Resident memory with `count` initialized sessions, then with `count` open HTTP+SSE streams."""
    url = servers["all"]
    out: dict[str, Any] = {"count": count}
    connector = aiohttp.TCPConnector(limit=count + 16)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        sem = asyncio.Semaphore(64)

        async def one() -> str:
            async with sem:
                return await mcp_wire.open_session(session, url)

        await asyncio.gather(*(one() for _ in range(count)))
        out["with_sessions_mib"] = rss_mib(processes)
        streams: list[aiohttp.ClientResponse] = []

        async def open_stream() -> None:
            async with sem:
                response = await session.get(f"{url}/sse", headers={"Accept": "text/event-stream"})
                await response.content.readline()  # the endpoint event has begun
                streams.append(response)

        results = await asyncio.gather(*(open_stream() for _ in range(count)), return_exceptions=True)
        out["streams_opened"] = len(streams)
        out["stream_errors"] = sum(isinstance(r, Exception) for r in results)
        await asyncio.sleep(1)
        out["with_streams_mib"] = rss_mib(processes)
        for response in streams:
            response.close()
    return out
