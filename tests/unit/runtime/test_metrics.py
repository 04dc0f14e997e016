"""The gRPC metrics interceptor and the /metrics endpoint, against a real grpc.aio server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from gumloop_mcp.runtime import (
    CallerTokens,
    GrpcClientMetrics,
    ServiceMetrics,
    create_channel,
    create_grpc_server,
    start_serving,
)
from gumloop_mcp.runtime._metrics import grpc_labels

SERVICE = "test.Metrics"
HANDLED = "grpc_server_handled_total"
SECONDS_COUNT = "grpc_server_handling_seconds_count"
STARTED = "grpc_server_started_total"
CALLER_TOKEN = "caller-token-0123456789abcdef"


class Probe:
    """Handlers of the test service; `stream_closed` is set when the stream's generator is finalised."""

    def __init__(self) -> None:
        self.stream_closed = asyncio.Event()
        self.release = asyncio.Event()
        self.port = 0

    async def ok(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return b"ok:" + request

    async def abort(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        raise AssertionError("unreachable")

    async def boom(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise ValueError("a bug")

    async def set_code(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
        context.set_details("not now")
        return b""

    async def stream(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        try:
            for i in range(3):
                yield b"%d" % i
                if request == b"wait" and i == 0:
                    await self.release.wait()
            if request == b"abort":
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "enough")
            if request == b"boom":
                raise RuntimeError("a bug mid-stream")
            if request == b"hang":
                await asyncio.Event().wait()
        finally:
            self.stream_closed.set()


def _handlers(probe: Probe) -> grpc.GenericRpcHandler:
    unary = grpc.unary_unary_rpc_method_handler
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Ok": unary(probe.ok),
            "Abort": unary(probe.abort),
            "Boom": unary(probe.boom),
            "SetCode": unary(probe.set_code),
            "Stream": grpc.unary_stream_rpc_method_handler(probe.stream),
        },
    )


@pytest.fixture
async def served() -> AsyncIterator[tuple[ServiceMetrics, grpc.aio.Channel, Probe]]:
    metrics, probe = ServiceMetrics(), Probe()
    server, port, health = create_grpc_server(
        lambda s: s.add_generic_rpc_handlers((_handlers(probe),)),
        [SERVICE],
        host="127.0.0.1",
        port=0,
        metrics=metrics,
    )
    await start_serving(server, health)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    probe.port = port
    try:
        yield metrics, channel, probe
    finally:
        await channel.close()
        await server.stop(None)


def _labels(method: str, code: str | None = None) -> dict[str, str]:
    labels = {
        "grpc_type": "server_stream" if method == "Stream" else "unary",
        "grpc_service": SERVICE,
        "grpc_method": method,
    }
    return labels if code is None else {**labels, "grpc_code": code}


def _count(metrics: ServiceMetrics, method: str, code: str, name: str = HANDLED) -> float | None:
    """A handled count by code; the duration histogram and the started counter have no code label."""
    return metrics.registry.get_sample_value(name, _labels(method, code if name == HANDLED else None))


async def _recorded(metrics: ServiceMetrics, method: str, code: str, name: str = HANDLED) -> float | None:
    """`_count` once the server has recorded the call. The interceptor records in its `finally`, after
    the handler returns; abort() sends the status before it raises, so the client can hold the status
    before the server's task resumes to record it. Polls up to 2 s, then returns what is there."""
    for _ in range(100):
        value = _count(metrics, method, code, name)
        if value is not None:
            return value
        await asyncio.sleep(0.02)
    return _count(metrics, method, code, name)


async def _unary(channel: grpc.aio.Channel, method: str, body: bytes = b"x", **kwargs: Any) -> bytes:
    result: bytes = await channel.unary_unary(f"/{SERVICE}/{method}")(body, timeout=5, **kwargs)
    return result


async def test_ok_calls_are_counted_with_their_latency(served):
    metrics, channel, _ = served
    assert await _unary(channel, "Ok") == b"ok:x"
    await _unary(channel, "Ok")
    assert _count(metrics, "Ok", "OK") == 2
    assert _count(metrics, "Ok", "OK", SECONDS_COUNT) == 2
    assert _count(metrics, "Ok", "OK", STARTED) == 2
    total = metrics.registry.get_sample_value("grpc_server_handling_seconds_sum", _labels("Ok"))
    assert total is not None and 0 < total < 5


async def test_an_aborted_call_is_counted_with_the_aborted_code(served):
    metrics, channel, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "Abort")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await _recorded(metrics, "Abort", "NOT_FOUND") == 1
    assert _count(metrics, "Abort", "OK") is None and _count(metrics, "Abort", "UNKNOWN") is None


async def test_an_exception_is_counted_unknown(served):
    metrics, channel, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "Boom")
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert await _recorded(metrics, "Boom", "UNKNOWN") == 1
    assert await _recorded(metrics, "Boom", "UNKNOWN", SECONDS_COUNT) == 1


async def test_a_code_set_without_abort_is_the_one_counted(served):
    metrics, channel, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "SetCode")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await _recorded(metrics, "SetCode", "FAILED_PRECONDITION") == 1


async def test_a_stream_is_counted_once_when_it_ends(served):
    metrics, channel, probe = served
    call = channel.unary_stream(f"/{SERVICE}/Stream")(b"wait", timeout=5)
    assert await call.read() == b"0"
    await asyncio.sleep(0.05)
    assert _count(metrics, "Stream", "OK") is None  # still open: not counted yet
    assert _count(metrics, "Stream", "OK", STARTED) == 1
    probe.release.set()
    assert [await call.read(), await call.read()] == [b"1", b"2"]
    assert await call.read() == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK
    assert await _recorded(metrics, "Stream", "OK") == 1
    assert await _recorded(metrics, "Stream", "OK", SECONDS_COUNT) == 1


@pytest.mark.parametrize(("body", "code"), [(b"abort", "RESOURCE_EXHAUSTED"), (b"boom", "UNKNOWN")])
async def test_a_stream_ending_in_an_error_is_counted_with_that_code(served, body, code):
    metrics, channel, _ = served
    call = channel.unary_stream(f"/{SERVICE}/Stream")(body, timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        _ = [m async for m in call]
    assert caught.value.code().name == code
    assert await _recorded(metrics, "Stream", code) == 1
    assert _count(metrics, "Stream", "OK") is None


async def test_a_stream_the_client_cancels_is_counted_cancelled_and_closed(served):
    metrics, channel, probe = served
    call = channel.unary_stream(f"/{SERVICE}/Stream")(b"hang", timeout=5)
    assert [await call.read() for _ in range(3)] == [b"0", b"1", b"2"]
    call.cancel()
    await asyncio.wait_for(probe.stream_closed.wait(), 5)  # the servicer's finally ran at once
    assert await _recorded(metrics, "Stream", "CANCELLED") == 1


async def test_unknown_methods_are_not_counted_so_callers_cannot_add_labels(served):
    metrics, channel, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary(f"/{SERVICE}/Invented-by-the-caller")(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert b"Invented-by-the-caller" not in metrics.render()


async def test_health_checks_are_not_counted(served):
    metrics, channel, _ = served
    answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert b"grpc.health" not in metrics.render()


async def test_calls_refused_by_caller_auth_are_counted_unauthenticated_and_no_token_shows():
    metrics, probe = ServiceMetrics(), Probe()
    server, port, health = create_grpc_server(
        lambda s: s.add_generic_rpc_handlers((_handlers(probe),)),
        [SERVICE],
        host="127.0.0.1",
        port=0,
        caller_tokens=CallerTokens({"facade": CALLER_TOKEN}),
        metrics=metrics,
    )
    await start_serving(server, health)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _unary(channel, "Ok", metadata=(("authorization", "Bearer wrong-token-0123456789"),))
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            await _unary(channel, "Ok", metadata=(("authorization", f"Bearer {CALLER_TOKEN}"),))
    finally:
        await server.stop(None)
    assert _count(metrics, "Ok", "UNAUTHENTICATED") == 1
    assert _count(metrics, "Ok", "OK") == 1
    text = metrics.render()
    assert CALLER_TOKEN.encode() not in text and b"wrong-token" not in text and b"facade" not in text


def test_every_instance_has_its_own_registry():
    first, second = ServiceMetrics(), ServiceMetrics()
    first.grpc_handled.labels("unary", "a.B", "C", "OK").inc()
    labels = {"grpc_type": "unary", "grpc_service": "a.B", "grpc_method": "C", "grpc_code": "OK"}
    assert first.registry.get_sample_value(HANDLED, labels) == 1
    assert second.registry.get_sample_value(HANDLED, labels) is None


async def test_the_endpoint_serves_metrics_on_a_free_port_and_stops():
    metrics = ServiceMetrics()
    metrics.grpc_handled.labels("unary", "a.B", "C", "OK").inc(3)
    endpoint = metrics.endpoint("127.0.0.1", 0)
    assert endpoint is not None
    port = await endpoint.start()
    assert port > 0 and endpoint.port == port
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                body = await response.text()
            async with http.get(f"http://127.0.0.1:{port}/other") as response:
                assert response.status == 404
        assert (
            'grpc_server_handled_total{grpc_code="OK",grpc_method="C",grpc_service="a.B",'
            'grpc_type="unary"} 3.0' in body
        )
        assert "process_cpu_seconds_total" in body and "process_resident_memory_bytes" in body
        assert "process_open_fds" in body and "python_info" in body
    finally:
        await endpoint.stop()
    await endpoint.stop()  # idempotent
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"http://127.0.0.1:{port}/metrics")


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def test_the_endpoint_answers_head_and_refuses_other_methods_and_malformed_requests():
    """HTTP/1.1 as aiohttp answered it: HEAD is GET without the body, another method 405, a request
    head h11 cannot parse or larger than the limit 400, and every answer closes the connection."""
    endpoint = ServiceMetrics().endpoint("127.0.0.1", 0)
    assert endpoint is not None
    port = await endpoint.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.head(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200 and int(response.headers["Content-Length"]) > 0
                assert await response.read() == b""
            async with http.get(f"http://127.0.0.1:{port}/metrics?name[]=x") as response:
                assert response.status == 200 and response.headers["Connection"] == "close"
            async with http.post(f"http://127.0.0.1:{port}/metrics", data=b"x") as response:
                assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"
        assert (await _raw(port, b"not http\r\n\r\n")).startswith(b"HTTP/1.1 400 Bad Request\r\n")
        huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 40_000 + b"\r\n\r\n"
        assert (await _raw(port, huge)).startswith(b"HTTP/1.1 400 ")
    finally:
        await endpoint.stop()


async def test_stopping_the_endpoint_drops_a_client_that_never_finished_its_request():
    endpoint = ServiceMetrics().endpoint("127.0.0.1", 0)
    assert endpoint is not None
    port = await endpoint.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metr")
    await writer.drain()
    await asyncio.sleep(0.05)  # the server has the partial head
    await asyncio.wait_for(endpoint.stop(), 2)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()


def test_port_minus_one_turns_the_endpoint_off():
    assert ServiceMetrics().endpoint("127.0.0.1", -1) is None


def test_grpc_labels_follow_go_grpc_prometheus():
    assert grpc_labels("/gumloop_mcp.tokens.v1.TokenService/ResolveToken", False, False) == (
        "unary",
        "gumloop_mcp.tokens.v1.TokenService",
        "ResolveToken",
    )
    assert grpc_labels("/a.B/C", False, True)[0] == "server_stream"
    assert grpc_labels("/a.B/C", True, False)[0] == "client_stream"
    assert grpc_labels("/a.B/C", True, True)[0] == "bidi_stream"


async def test_client_metrics_count_unary_and_stream_calls_by_their_final_code(served):
    """A channel with metrics= counts started and handled calls and their duration, streams at their end."""
    _, _, probe = served
    registry = CollectorRegistry()
    client = GrpcClientMetrics(registry)
    async with create_channel(f"127.0.0.1:{probe.port}", metrics=client) as counted:
        assert await counted.unary_unary(f"/{SERVICE}/Ok")(b"x", timeout=5) == b"ok:x"
        with pytest.raises(grpc.aio.AioRpcError):
            await counted.unary_unary(f"/{SERVICE}/Abort")(b"x", timeout=5)
        probe.release.set()
        call = counted.unary_stream(f"/{SERVICE}/Stream")(b"", timeout=5)
        assert [m async for m in call] == [b"0", b"1", b"2"]
        hanging = counted.unary_stream(f"/{SERVICE}/Stream")(b"hang", timeout=5)
        assert [await hanging.read() for _ in range(3)] == [b"0", b"1", b"2"]
        hanging.cancel()

    def value(name: str, method: str, kind: str, code: str | None = None) -> float | None:
        labels = {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method}
        if code is not None:
            labels["grpc_code"] = code
        return registry.get_sample_value(name, labels)

    for _ in range(50):  # a stream is recorded from its done callback
        if value("grpc_client_handled_total", "Stream", "server_stream", "CANCELLED"):
            break
        await asyncio.sleep(0.02)
    assert value("grpc_client_started_total", "Ok", "unary") == 1
    assert value("grpc_client_handled_total", "Ok", "unary", "OK") == 1
    assert value("grpc_client_handled_total", "Abort", "unary", "NOT_FOUND") == 1
    assert value("grpc_client_handling_seconds_count", "Ok", "unary") == 1
    assert value("grpc_client_started_total", "Stream", "server_stream") == 2
    assert value("grpc_client_handled_total", "Stream", "server_stream", "OK") == 1
    assert value("grpc_client_handled_total", "Stream", "server_stream", "CANCELLED") == 1
