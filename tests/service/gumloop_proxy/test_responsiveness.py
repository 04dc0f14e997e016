"""The proxy keeps answering while one call does heavy or long work: rendering a large artifact,
holding a stream open. Against a loopback stand-in for Gumloop (aiohttp), through the real server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from services.gumloop_proxy.server import ProxyServer

# ~12 MB of CSV: well over a second of rendering on the shared test machine.
BIG_CSV = b"id,name,value,comment\n" + b"".join(
    b"%d,name%d,%d,some text here\n" % (i, i, i * 3) for i in range(300_000)
)


class FakeGumloop:
    """A loopback HTTP server answering the few Gumloop routes these tests use."""

    def __init__(self) -> None:
        self.base_url = ""
        self.downloaded = asyncio.Event()
        self.stream_opened = asyncio.Event()
        self.release_stream = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/artifacts/{artifact_id}/download", self._artifact)
        app.router.add_get("/files/big.csv", self._file)
        app.router.add_get("/api/v1/teams", self._teams)
        app.router.add_get("/api/v1/sessions/{session_id}", self._session_stream)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self.release_stream.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _artifact(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "download_url": f"{self.base_url}/files/big.csv",
                "filename": "big.csv",
                "media_type": "text/csv",
                "size": len(BIG_CSV),
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        response = web.Response(body=BIG_CSV, content_type="text/csv")
        self.downloaded.set()
        return response

    async def _teams(self, request: web.Request) -> web.Response:
        return web.json_response({"teams": [{"id": "team_1", "name": "Team"}]})

    async def _session_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'event: message\ndata: {"type": "hello"}\n\n')
        self.stream_opened.set()
        await self.release_stream.wait()
        await response.write(b'event: finish\ndata: {"final": true}\n\n')
        return response


@pytest.fixture
async def gumloop() -> AsyncIterator[FakeGumloop]:
    fake = FakeGumloop()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


async def _account(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop, **fields: Any
) -> pb.IntegratedAccount:
    response = await stub.CreateIntegratedAccount(
        pb.CreateIntegratedAccountRequest(
            account=pb.IntegratedAccount(
                display_name="fake",
                user_id="user_1",
                api_base_url=f"{gumloop.base_url}/api/v1",
                stream_base_url=f"{gumloop.base_url}/api/v1",
                **fields,
            ),
            credential=pb.Credential(kind=pb.CREDENTIAL_KIND_API_KEY, secret="gl-fake-key"),
        ),
        timeout=10,
    )
    return response.account


async def test_health_and_other_rpcs_answer_while_a_large_artifact_is_rendered(
    proxy: ProxyServer, stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop
) -> None:
    """Rendering ran on the event loop: a 24 MB CSV stalled every RPC, health included, for seconds."""
    account = await _account(stub, gumloop)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        started = time.monotonic()
        read = asyncio.ensure_future(
            stub.ReadArtifact(
                pb.ReadArtifactRequest(account_id=account.id, artifact_id="art_big"), timeout=60
            )
        )
        await asyncio.wait_for(gumloop.downloaded.wait(), 20)
        await asyncio.sleep(0.05)  # the proxy has the bytes; rendering starts
        checked = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
        listed = await stub.ListOperations(pb.ListOperationsRequest(), timeout=30)
        answered = time.monotonic()
        assert checked.status == health_pb2.HealthCheckResponse.SERVING and listed.operations
        assert not read.done(), "the other RPCs should answer while the artifact is still being rendered"
        response = await read
        finished = time.monotonic()
    assert response.content.WhichOneof("content") == "markdown"
    assert response.content.markdown.truncated and response.content.markdown.source_format == "csv"
    assert answered - started < finished - started

    # Paging renders once: the next window comes from the cache, far faster than the first.
    again_started = time.monotonic()
    second = await stub.ReadArtifact(
        pb.ReadArtifactRequest(
            account_id=account.id, artifact_id="art_big", offset=response.content.markdown.next_offset
        ),
        timeout=60,
    )
    again = time.monotonic() - again_started
    assert second.content.markdown.offset == response.content.markdown.next_offset
    assert again < (finished - started), (again, finished - started)


async def test_an_open_stream_does_not_hold_the_accounts_only_concurrency_slot(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop
) -> None:
    """With max_concurrency=1 a unary call waited behind an open session stream (up to
    stream_timeout_s); the stream now gives its slot back once its headers arrive."""
    account = await _account(stub, gumloop, max_concurrency=1)
    stream = stub.StreamOperation(
        pb.StreamOperationRequest(
            account_id=account.id, operation="stream_session", arguments_json='{"session_id": "sess_1"}'
        ),
        timeout=60,
    )
    messages = stream.__aiter__()
    first = await asyncio.wait_for(messages.__anext__(), 10)
    assert first.WhichOneof("part") == "start", first
    event = await asyncio.wait_for(messages.__anext__(), 10)
    assert event.event.event == "message"
    assert gumloop.stream_opened.is_set() and not gumloop.release_stream.is_set()
    # The stream is open and idle; a unary call on the same account goes through.
    response = await stub.InvokeOperation(
        pb.InvokeOperationRequest(account_id=account.id, operation="list_teams", arguments_json="{}"),
        timeout=5,
    )
    assert response.http_status == 200
    gumloop.release_stream.set()
    rest = [message async for message in messages]
    assert [m.WhichOneof("part") for m in rest] == ["event", "end"]
    assert rest[-1].end.event_count == 2
