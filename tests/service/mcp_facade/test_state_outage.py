"""Redis stops under two replicas: calls still answer (budget and sessions fail open), tasks say why not."""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from services.mcp_facade.server import FacadeServer

from ...conftest import find_redis_server, start_redis, stop_redis
from .conftest import Stack

BOTH = {"Accept": "application/json, text/event-stream"}
TASK_CAPS = {"tasks": {"requests": {"tools": {"call": {}}}}}


@pytest.fixture
def private_redis() -> Iterator[tuple[str, Any]]:
    """A redis-server of this test alone (it gets stopped); (url, process)."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found (run scripts/ensure-redis or set REDIS_SERVER)")
    with tempfile.TemporaryDirectory(prefix="gmcp-facade-redis-") as workdir:
        proc, port = start_redis(binary, workdir)
        try:
            yield f"redis://127.0.0.1:{port}/0", proc
        finally:
            stop_redis(proc)


async def _rpc(
    http: aiohttp.ClientSession, url: str, method: str, params: dict[str, Any], session: str = ""
) -> tuple[int, Any, float]:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    headers = {**BOTH, **({"Mcp-Session-Id": session} if session else {})}
    version = params.get("_meta", {}).get("io.modelcontextprotocol/protocolVersion")
    if version:  # a stateless request mirrors its metadata in headers
        headers |= {"MCP-Protocol-Version": version, "Mcp-Method": method}
        if "name" in params:
            headers["Mcp-Name"] = params["name"]
    started = time.monotonic()
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(), time.monotonic() - started


async def test_redis_outage_keeps_calls_answering_and_tasks_report_the_store(
    stack: Stack, private_redis: tuple[str, Any]
) -> None:
    """With Redis stopped: tools/call answers on both replicas, tasks get -32603, DELETE is 503, all fast."""
    url, proc = private_redis
    replicas: list[FacadeServer] = [
        await stack.make(store="redis", redis_url=url, calls_per_minute=2) for _ in range(2)
    ]
    urls = [f"http://127.0.0.1:{r.public_port}/mcp/{stack.token}" for r in replicas]
    async with aiohttp.ClientSession() as http:
        init = {"protocolVersion": "2025-11-25", "capabilities": TASK_CAPS}
        async with http.post(
            urls[0], json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}
        ) as resp:
            session = resp.headers["Mcp-Session-Id"]
        stop_redis(proc)
        echo = {"name": "echo", "arguments": {"text": "up"}}
        for i in range(4):  # twice the budget: it fails open rather than refusing or hanging
            status, reply, took = await _rpc(http, urls[i % 2], "tools/call", echo, session)
            assert status == 200
            assert reply["result"]["structuredContent"] == {"echo": "mcp_1:up"}
            assert took < 5
        status, created, took = await _rpc(http, urls[1], "tools/call", {**echo, "task": {}}, session)
        assert (status, created["error"]["code"]) == (200, -32603)
        assert "task store is unavailable" in created["error"]["message"]
        assert took < 5
        _, got, _ = await _rpc(http, urls[0], "tasks/get", {"taskId": "whatever"}, session)
        assert got["error"]["code"] == -32603
        assert "task store is unavailable" in got["error"]["message"]
        assert [name for name, _ in stack.toolbox.calls] == ["echo"] * 4  # no task was started
        async with http.delete(urls[1], headers={"Mcp-Session-Id": session}) as resp:
            assert resp.status == 503
            assert "could not be ended" in (await resp.json())["error"]["message"]
        admin = f"http://127.0.0.1:{replicas[0].admin_port}/metrics"
        async with http.get(admin) as resp:
            metrics = await resp.text()
        assert 'gmcp_facade_state_unavailable_total{feature="budget"}' in metrics
        assert 'gmcp_facade_state_unavailable_total{feature="session"}' in metrics


async def test_a_hung_redis_costs_one_timeout_then_calls_fail_open_at_once(
    stack: Stack, private_redis: tuple[str, Any]
) -> None:
    """Redis frozen (SIGSTOP): the first call waits one socket timeout, the next ones answer at once."""
    url, proc = private_redis
    replica = await stack.make(store="redis", redis_url=url)
    replica_url = f"http://127.0.0.1:{replica.public_port}/mcp/{stack.token}"
    echo = {
        "name": "echo",
        "arguments": {"text": "x"},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    }
    async with aiohttp.ClientSession() as http:
        assert (await _rpc(http, replica_url, "tools/call", echo))[0] == 200
        proc.send_signal(signal.SIGSTOP)
        try:
            timings = []
            for _ in range(3):
                status, reply, took = await _rpc(http, replica_url, "tools/call", echo)
                assert status == 200
                assert reply["result"]["structuredContent"] == {"echo": "mcp_1:x"}
                timings.append(took)
        finally:
            proc.send_signal(signal.SIGCONT)
    assert timings[0] < 4.5  # one socket timeout (2 s), no retry series
    assert max(timings[1:]) < 1.0  # the breaker fails open without asking Redis


async def test_legacy_sse_without_redis_serves_local_posts_and_refuses_relays_with_503(
    stack: Stack, private_redis: tuple[str, Any]
) -> None:
    """Redis stopped: POSTs to the stream's own replica are answered; elsewhere 503 (cannot reach it)."""
    url, proc = private_redis
    one, two = [await stack.make(store="redis", redis_url=url) for _ in range(2)]
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{one.public_port}/mcp/{stack.token}/sse") as stream,
    ):
        endpoint = (await stream.content.readuntil(b"\n\n")).decode().split("data: ")[1].strip()
        stop_redis(proc)
        async with http.post(f"http://127.0.0.1:{two.public_port}{endpoint}", json=ping) as resp:
            assert resp.status == 503
            assert "shared state unavailable" in (await resp.json())["error"]["message"]
        async with http.post(f"http://127.0.0.1:{one.public_port}{endpoint}", json=ping) as resp:
            assert resp.status == 202
        answer = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
        assert answer == b'event: message\ndata: {"jsonrpc": "2.0", "id": 1, "result": {}}\n\n'
