"""Resource bounds: batch size and budget, SSE stream slots, in-flight and unread-buffer caps of
HTTP+SSE, connection limit, header/body/keep-alive timeouts on both ports, and their metrics."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import aiohttp

from services.mcp_facade.server import FacadeServer

from .conftest import Stack
from .test_transport import _initialize, _post


def _tripped(server: FacadeServer, limit: str, port: str = "public") -> float:
    metrics = server.facade.metrics
    assert metrics is not None
    value = metrics.registry.get_sample_value(
        "gmcp_facade_limit_tripped_total", {"limit": limit, "port": port}
    )
    return value or 0.0


def _url(server: FacadeServer, token: str) -> str:
    return f"http://127.0.0.1:{server.public_port}/mcp/{token}"


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    """Wait (in short steps) until `predicate()` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def _raw(port: int, data: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if data:
        writer.write(data)
        await writer.drain()
    return reader, writer


def _request(method: str, path: str, body: bytes = b"", length: int | None = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    return head.encode() + body


def _status_and_body(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


# -- batches and the budget ------------------------------------------------------------------


async def test_a_batch_over_the_limit_is_refused_whole_with_32600(stack: Stack) -> None:
    server = await stack.make(max_batch_items=5)
    url = _url(server, stack.token)
    session, _ = await _initialize(url, "2025-03-26")
    batch = [{"jsonrpc": "2.0", "id": n, "method": "tools/list"} for n in range(6)]
    status, reply, _ = await _post(url, batch, {"Mcp-Session-Id": session})
    assert status == 400
    assert reply["error"]["code"] == -32600
    assert "at most 5 messages (got 6)" in reply["error"]["message"]
    assert reply["error"]["data"] == {"max_batch_items": 5}
    assert _tripped(server, "batch_size") == 1
    status, reply, _ = await _post(url, batch[:5], {"Mcp-Session-Id": session})
    assert status == 200 and [r["id"] for r in reply] == [0, 1, 2, 3, 4]


async def test_every_request_of_a_batch_and_every_tools_list_takes_from_the_budget(stack: Stack) -> None:
    server = await stack.make(calls_per_minute=3, max_batch_items=10)
    url = _url(server, stack.token)
    session, _ = await _initialize(url, "2025-03-26")
    batch: list[dict[str, Any]] = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(4)]
    batch.append({"jsonrpc": "2.0", "method": "notifications/initialized"})  # notifications are free
    status, reply, _ = await _post(url, batch, {"Mcp-Session-Id": session})
    assert status == 200
    assert [("result" in r) for r in reply] == [True, True, True, False]
    error = reply[3]["error"]
    assert error["code"] == -32000
    assert "allows 3 calls per minute" in error["message"]
    assert 1 <= error["data"]["retry_after_seconds"] <= 20
    # Outside a batch, tools/list is charged too (a ping is not).
    body = {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}
    status, reply, _ = await _post(url, body, {"Mcp-Session-Id": session})
    assert status == 200 and reply["error"]["code"] == -32000
    status, reply, _ = await _post(url, {**body, "method": "ping"}, {"Mcp-Session-Id": session})
    assert reply["result"] == {}
    assert _tripped(server, "budget") == 2


# -- SSE streams -------------------------------------------------------------------------------


async def _open_sse(http: aiohttp.ClientSession, url: str) -> tuple[aiohttp.ClientResponse, str]:
    resp = await http.get(f"{url}/sse")
    assert resp.status == 200
    first = await resp.content.readuntil(b"\n\n")
    endpoint = first.decode().split("data: ", 1)[1].strip()
    return resp, endpoint


async def test_sse_streams_are_limited_per_server_and_per_client_address(stack: Stack) -> None:
    server = await stack.make(max_streams_per_server=2, max_streams_per_client=3)
    first, second = _url(server, stack.token), _url(server, stack.tokens.add_server("mcp_2"))
    async with aiohttp.ClientSession() as http:
        a, _ = await _open_sse(http, first)
        b, _ = await _open_sse(http, first)
        async with http.get(f"{first}/sse") as refused:
            assert refused.status == 429
            assert refused.headers["Retry-After"] == "5"
            body = await refused.json()
            assert body["error"]["code"] == -32000
            assert "this MCP server (at most 2)" in body["error"]["message"]
        c, _ = await _open_sse(http, second)  # another server: its own slots, the address's third
        async with http.get(f"{second}/sse") as refused:
            assert refused.status == 429
            assert "client address (at most 3)" in (await refused.json())["error"]["message"]
        assert (_tripped(server, "streams_per_server"), _tripped(server, "streams_per_client")) == (1, 1)
        a.close()
        await _until(lambda: server.facade.streams.open_for("mcp_1") == 1)
        d, _ = await _open_sse(http, first)  # the slot came back
        for resp in (b, c, d):
            resp.close()
    await _until(lambda: server.facade.streams.open_for("mcp_1") == 0)


async def test_a_streamable_get_stream_takes_a_slot_too(stack: Stack) -> None:
    server = await stack.make(max_streams_per_server=1)
    url = _url(server, stack.token)
    session, _ = await _initialize(url)
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session}
    async with aiohttp.ClientSession() as http:
        held = await http.get(url, headers=headers)
        assert held.status == 200
        async with http.get(url, headers=headers) as refused:
            assert refused.status == 429
        held.close()


async def _legacy_initialize(http: aiohttp.ClientSession, base: str, endpoint: str) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t"}},
    }
    async with http.post(base + endpoint, json=init) as resp:
        assert resp.status == 202


async def test_an_sse_stream_holds_a_bounded_number_of_requests_in_progress(stack: Stack) -> None:
    server = await stack.make(sse_max_inflight=2)
    base = f"http://127.0.0.1:{server.public_port}"
    async with aiohttp.ClientSession() as http:
        stream, endpoint = await _open_sse(http, _url(server, stack.token))
        await _legacy_initialize(http, base, endpoint)
        await stream.content.readuntil(b"\n\n")  # the initialize answer
        slow = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "slow", "arguments": {}}}
        for n in (1, 2):
            async with http.post(base + endpoint, json={**slow, "id": n}) as resp:
                assert resp.status == 202
        async with http.post(base + endpoint, json={**slow, "id": 3}) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "1"
            assert "at most 2" in (await resp.json())["error"]["message"]
        assert _tripped(server, "sse_inflight") == 1
        stack.toolbox.release.set()
        stream.close()


async def test_a_client_that_does_not_read_its_sse_stream_is_cut_off(stack: Stack) -> None:
    """Replies pile up for a stream nobody reads: past sse_buffer_bytes the stream is closed and
    its POSTs get 404, instead of the façade's memory growing with every POST."""
    server = await stack.make(sse_buffer_bytes=64 * 1024)
    port = server.public_port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the client reads nothing: fill fast
    sock.connect(("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET /mcp/{stack.token}/sse HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\n\n")
    while b"event: endpoint" not in head:
        head += await reader.readuntil(b"\n\n")
    endpoint = head.decode().split("data: ", 1)[1].split("\n", 1)[0].strip()
    base = f"http://127.0.0.1:{port}"
    big = "x" * 200_000
    statuses: list[int] = []
    async with aiohttp.ClientSession() as http:
        await _legacy_initialize(http, base, endpoint)
        for n in range(200):
            call = {"jsonrpc": "2.0", "id": n, "method": "ping"}
            if n % 2:
                call = {
                    **call,
                    "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": big}},
                }
            async with http.post(base + endpoint, json=call) as resp:
                statuses.append(resp.status)
            if resp.status == 404:
                break
    assert statuses[-1] == 404, statuses
    assert _tripped(server, "sse_buffer") == 1
    assert server.facade.legacy.connections == {}
    writer.close()


# -- connections and timeouts -----------------------------------------------------------------


async def test_connections_over_the_limit_get_503_and_a_freed_slot_is_reused(stack: Stack) -> None:
    server = await stack.make(max_connections=3, header_timeout_s=30)
    held = [await _raw(server.public_port) for _ in range(3)]
    reader, writer = await _raw(server.public_port, _request("GET", "/healthz"))
    status, headers, body = _status_and_body(await asyncio.wait_for(reader.read(), 5))
    assert status == 503 and headers["Retry-After"] == "1"
    assert "too many open connections" in body["error"]["message"]
    assert _tripped(server, "connections") == 1
    writer.close()
    held[0][1].close()
    async with aiohttp.ClientSession() as http:
        await _until(lambda: server.facade.metrics is not None and _open(server) < 3)
        async with http.get(f"http://127.0.0.1:{server.public_port}/healthz") as resp:
            assert resp.status == 200
    for _, held_writer in held[1:]:
        held_writer.close()


def _open(server: FacadeServer, port: str = "public") -> float:
    metrics = server.facade.metrics
    assert metrics is not None
    return metrics.registry.get_sample_value("gmcp_facade_open_connections", {"port": port}) or 0.0


async def test_unfinished_headers_get_408_and_are_closed_on_both_ports(stack: Stack) -> None:
    server = await stack.make(header_timeout_s=0.15)
    for port, name in ((server.public_port, "public"), (server.admin_port, "admin")):
        reader, writer = await _raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        raw = await asyncio.wait_for(reader.read(), 5)  # EOF follows the answer
        status, _, body = _status_and_body(raw)
        assert status == 408
        assert "did not arrive within 0.15 seconds" in body["error"]["message"]
        assert _tripped(server, "header_timeout", name) == 1
        writer.close()
    # A prompt request on a new connection is not cut by the header timeout.
    await asyncio.sleep(0.1)
    reader, writer = await _raw(server.public_port, _request("GET", "/healthz"))
    await asyncio.sleep(0.2)  # past the header timeout
    assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_a_body_that_does_not_arrive_in_time_gets_408_on_both_ports(stack: Stack) -> None:
    server = await stack.make(body_timeout_s=0.3)
    partial = _request("POST", f"/mcp/{stack.token}", b'{"jsonrpc"', length=100)
    reader, writer = await _raw(server.public_port, partial)
    status, _, body = _status_and_body(await asyncio.wait_for(reader.readuntil(b"}}"), 5))
    assert status == 408 and body["error"]["code"] == -32600
    writer.close()
    reader, writer = await _raw(server.admin_port, _request("POST", "/v1/mcp-servers", b"{", length=50))
    status, _, body = _status_and_body(await asyncio.wait_for(reader.readuntil(b"}}"), 5))
    assert status == 408 and "did not arrive within 0.3 seconds" in body["error"]["message"]
    writer.close()
    assert (_tripped(server, "body_timeout"), _tripped(server, "body_timeout", "admin")) == (1, 1)


async def test_an_idle_keep_alive_connection_is_closed(stack: Stack) -> None:
    server = await stack.make(keepalive_timeout_s=0.3)
    for port in (server.public_port, server.admin_port):
        reader, writer = await _raw(port, _request("GET", "/healthz"))
        raw = await asyncio.wait_for(reader.read(), 5)  # the answer, then EOF once idle
        assert raw.startswith(b"HTTP/1.1 200")
        writer.close()
