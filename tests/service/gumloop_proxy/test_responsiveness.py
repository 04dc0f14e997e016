"""The proxy keeps answering while one call does heavy or long work: rendering a large artifact,
holding a stream open. Against a loopback stand-in for Gumloop, through the real server."""

from __future__ import annotations

import asyncio
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from services.gumloop_proxy.server import ProxyServer

from .conftest import FakeGumloop, create_fake_account

# ~12 MB of CSV: well over a second of rendering on the shared test machine.
BIG_CSV = b"id,name,value,comment\n" + b"".join(
    b"%d,name%d,%d,some text here\n" % (i, i, i * 3) for i in range(300_000)
)


async def test_health_and_other_rpcs_answer_while_a_large_artifact_is_rendered(
    proxy: ProxyServer, stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop
) -> None:
    """Rendering ran on the event loop: a 24 MB CSV stalled every RPC, health included, for seconds."""
    gumloop.file_body = BIG_CSV
    account = await create_fake_account(stub, gumloop)
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
    account = await create_fake_account(stub, gumloop, max_concurrency=1)
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
