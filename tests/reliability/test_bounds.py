"""Issue 13's findings, reproduced against the real façade process: each attack must leave it
within 100 MiB of its resident memory at the start and answering another client within a second.

- a 2,000-item JSON-RPC batch of tools/list (it once grew the façade by 758 MiB);
- 1,500 POSTs to an HTTP+SSE stream that is never read (307 MiB, held until the stream closed);
- 400 connections that never finish their headers (all still open after 60 s);
- more connections than the connection limit (once: out of file descriptors, 88,830 ERROR lines).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import aiohttp
import pytest

from .conftest import HEADER_TIMEOUT_S, MAX_CONNECTIONS, Facade

MEMORY_BOUND_MIB = 100.0
ANSWER_WITHIN_S = 1.0
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

# Generous: the module fixture's teardown (stopping `up`) counts against the last test, and a loaded
# CI machine needs more than a minute for the heaviest cases.
pytestmark = pytest.mark.timeout(180)


def _initialize(version: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "reliability"}},
    }


async def _answer_time(url: str) -> float:
    """Seconds another client waits for an initialize and a ping on a fresh connection."""
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=_initialize("2025-11-25"), headers=JSON_HEADERS) as resp:
            assert resp.status == 200
            session = resp.headers["Mcp-Session-Id"]
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with http.post(url, json=ping, headers={**JSON_HEADERS, "Mcp-Session-Id": session}) as resp:
            assert (await resp.json())["result"] == {}
    return time.perf_counter() - started


async def _baseline(facade: Facade) -> float:
    await _answer_time(facade.mcp_url)  # warm: the first request loads the catalog
    return facade.rss_mib()


def _assert_bounded(facade: Facade, start_mib: float, answer_s: float) -> None:
    grown = facade.rss_mib() - start_mib
    assert grown < MEMORY_BOUND_MIB, f"the façade grew by {grown:.0f} MiB"
    assert answer_s < ANSWER_WITHIN_S, f"another client waited {answer_s:.2f} s"


async def _metric(facade: Facade, limit: str, port: str = "public") -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{facade.admin}/metrics") as resp:
        text = await resp.text()
    prefix = f'gmcp_facade_limit_tripped_total{{limit="{limit}",port="{port}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


async def _open_connections(facade: Facade, port: str = "public") -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{facade.admin}/metrics") as resp:
        text = await resp.text()
    prefix = f'gmcp_facade_open_connections{{port="{port}"}} '
    return next((float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


async def _close(*writers: asyncio.StreamWriter) -> None:
    """Close and wait: a transport left closing when the test's loop ends leaks its socket (a
    ResourceWarning that pytest turns into a later test's failure)."""
    for writer in writers:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)


async def test_a_2000_item_batch_is_refused_without_building_2000_tool_lists(facade: Facade) -> None:
    start = await _baseline(facade)
    async with aiohttp.ClientSession() as http:
        async with http.post(facade.mcp_url, json=_initialize("2025-03-26"), headers=JSON_HEADERS) as resp:
            session = resp.headers["Mcp-Session-Id"]
        batch = [{"jsonrpc": "2.0", "id": n, "method": "tools/list"} for n in range(2000)]
        headers = {**JSON_HEADERS, "Mcp-Session-Id": session}
        posted = asyncio.ensure_future(http.post(facade.mcp_url, data=json.dumps(batch), headers=headers))
        answer_s = await _answer_time(facade.mcp_url)
        async with await posted as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
    assert error["code"] == -32600 and "at most 20 messages (got 2000)" in error["message"]
    _assert_bounded(facade, start, max(answer_s, await _answer_time(facade.mcp_url)))
    assert await _metric(facade, "batch_size") == 1


async def test_1500_posts_to_an_unread_sse_stream_cut_it_instead_of_queueing(facade: Facade) -> None:
    start = await _baseline(facade)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read past the endpoint
    sock.connect(("127.0.0.1", facade.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    path = facade.mcp_url.split(str(facade.port), 1)[1]
    writer.write(f"GET {path}/sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    head = b""
    while b"event: endpoint" not in head:
        head += await reader.readuntil(b"\n\n")
    endpoint = head.decode().split("data: ", 1)[1].split("\n", 1)[0].strip()
    post_url = f"http://127.0.0.1:{facade.port}{endpoint}"
    statuses: dict[int, int] = {}
    limit = asyncio.Semaphore(20)
    async with aiohttp.ClientSession() as http:
        async with http.post(post_url, json={**_initialize("2024-11-05")}) as resp:
            assert resp.status == 202

        async def post(n: int) -> None:
            async with (
                limit,
                http.post(post_url, json={"jsonrpc": "2.0", "id": n, "method": "tools/list"}) as r,
            ):
                statuses[r.status] = statuses.get(r.status, 0) + 1

        attack = asyncio.gather(*(post(n) for n in range(1, 1501)))
        await asyncio.sleep(0.2)
        answer_s = await _answer_time(facade.mcp_url)
        await attack
    await _close(writer)
    assert statuses.get(404, 0) > 0, statuses  # the stream was cut: later posts find no stream
    assert set(statuses) <= {202, 404, 429}, statuses
    assert await _metric(facade, "sse_buffer") == 1
    _assert_bounded(facade, start, max(answer_s, await _answer_time(facade.mcp_url)))


async def test_400_unfinished_header_sets_are_closed_after_the_header_timeout(facade: Facade) -> None:
    start = await _baseline(facade)
    conns = []
    for _ in range(400):
        reader, writer = await asyncio.open_connection("127.0.0.1", facade.port)
        writer.write(b"POST /mcp/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Never-Ends: ")
        conns.append((reader, writer))
    opened = time.monotonic()
    answer_s = await _answer_time(facade.mcp_url)
    answers = await asyncio.wait_for(
        asyncio.gather(*(reader.read() for reader, _ in conns)), HEADER_TIMEOUT_S + 10
    )
    closed_after = time.monotonic() - opened
    assert all(answer.startswith(b"HTTP/1.1 408 Request Timeout") for answer in answers)
    assert closed_after < HEADER_TIMEOUT_S + 5
    await _close(*(writer for _, writer in conns))
    assert await _metric(facade, "header_timeout") >= 400
    _assert_bounded(facade, start, max(answer_s, await _answer_time(facade.mcp_url)))


async def test_connections_beyond_the_limit_are_refused_with_503_and_no_error_flood(facade: Facade) -> None:
    start = await _baseline(facade)
    errors_before = facade.logs().count('"level": "ERROR"')
    # max_connections (600 here), opened well within the (3 s) header timeout that would close them.
    opened = time.monotonic()
    conns = []
    for _ in range(MAX_CONNECTIONS // 100):  # in steps the listen backlog (128) takes without dropping any
        conns += await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", facade.port) for _ in range(100))
        )
    assert time.monotonic() - opened < HEADER_TIMEOUT_S - 1
    # Connected is not yet accepted: wait until the façade holds them all (the kernel's backlog may
    # still hold some), so the next ones are over its limit.
    while (
        await _open_connections(facade) < MAX_CONNECTIONS and time.monotonic() - opened < HEADER_TIMEOUT_S - 1
    ):
        await asyncio.sleep(0.05)

    async def over_the_limit() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", facade.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return await asyncio.wait_for(reader.read(), 5)
        except (ConnectionResetError, TimeoutError):
            return b""
        finally:
            await _close(writer)

    try:
        refused = await asyncio.gather(*(over_the_limit() for _ in range(50)))
    except BaseException:
        await _close(*(writer for _, writer in conns))
        raise
    assert time.monotonic() - opened < HEADER_TIMEOUT_S  # the held ones were all still open
    # None is served. Nearly all get the 503; on a loaded machine a refused connection can be reset
    # before its 503 is read (an empty answer), which still refuses it.
    served = [answer[:300] for answer in refused if answer and not answer.startswith(b"HTTP/1.1 503 ")]
    assert served == []
    answered = [answer for answer in refused if answer]
    assert len(answered) >= 45, f"{50 - len(answered)} of 50 refusals were resets, not 503s"
    assert all(b"Retry-After: 1" in answer for answer in answered)
    assert await _metric(facade, "connections") >= 50
    await _close(*(writer for _, writer in conns))
    answer_s = await _answer_time(facade.mcp_url)
    _assert_bounded(facade, start, answer_s)
    assert facade.logs().count('"level": "ERROR"') == errors_before
