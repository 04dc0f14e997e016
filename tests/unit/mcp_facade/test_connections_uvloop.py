"""The façade's connection guard on uvloop (its loop in production, gumloop_mcp.runtime.run_service),
whose transports are not asyncio.Transport instances: a request within the limit is served, one over
it gets the 503, and unfinished headers get the 408."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gumloop_mcp.runtime import run_service
from services.mcp_facade.transport.connections import ConnectionGuard, GuardedSite


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def _scenario() -> tuple[bytes, bytes, bytes]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    guard = ConnectionGuard("public", limit=1, header_timeout_s=0.2)
    app = web.Application(middlewares=[guard.middleware()])
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, guard)
    await site.start()
    try:
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        served = await _exchange(site.port, request)
        late = await _exchange(site.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # One connection held open (its headers unfinished) fills the limit of 1.
        held_reader, held_writer = await asyncio.open_connection("127.0.0.1", site.port)
        async with asyncio.timeout(5):
            while guard.open < 1:
                await asyncio.sleep(0.01)
        refused = await _exchange(site.port, request)
        held_writer.close()
        del held_reader
        return served, late, refused
    finally:
        await runner.cleanup()


def test_the_guard_serves_refuses_and_times_out_on_uvloop() -> None:
    served, late, refused = run_service(_scenario())
    assert served.startswith(b"HTTP/1.1 200") and served.endswith(b"hello")
    assert late.startswith(b"HTTP/1.1 408") and b"did not arrive within 0.2 seconds" in late
    assert refused.startswith(b"HTTP/1.1 503") and b"too many open connections" in refused
