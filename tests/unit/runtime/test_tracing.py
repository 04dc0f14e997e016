"""Tracing is off without an OTLP endpoint; with spans, log lines carry their trace and span ids."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import datetime

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider

from gumloop_mcp.runtime import (
    _tracing,
    configure,
    current_trace_ids,
    grpc_client_interceptors,
    grpc_server_interceptors,
    inject_headers,
    request_id_var,
    tracing_enabled,
)
from gumloop_mcp.runtime._grpc_client import caller_token_interceptors
from gumloop_mcp.runtime._grpc_server import request_id_of


def test_tracing_is_wanted_only_with_an_endpoint_and_not_disabled() -> None:
    assert not _tracing._wanted({})
    assert not _tracing._wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "})
    assert _tracing._wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert _tracing._wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    disabled = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}
    assert not _tracing._wanted(disabled)


def test_off_means_nothing_installed_and_nothing_sent() -> None:
    """Without configure_tracing: no interceptors, no traceparent, no ids in log lines."""
    assert not _tracing.configure_tracing("x", environ={})
    assert not tracing_enabled()
    assert grpc_server_interceptors() == [] and grpc_client_interceptors() == []
    headers: dict[str, str] = {}
    inject_headers(headers)
    assert headers == {}
    assert current_trace_ids() is None


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> TracerProvider:
    """An SDK provider standing in for the configured one (the global provider is left alone)."""
    sdk = TracerProvider()
    monkeypatch.setitem(_tracing._state, "provider", sdk)
    return sdk


def test_log_lines_in_a_span_carry_its_ids_and_an_rfc3339_time(provider: TracerProvider) -> None:
    stream = io.StringIO()
    configure("INFO", json_format=True, stream=stream, batch_s=0)
    log = logging.getLogger("test.tracing")
    try:
        with provider.get_tracer("t").start_as_current_span("work") as span:
            log.info("inside")
            headers: dict[str, str] = {}
            inject_headers(headers)
        log.info("outside")
    finally:
        logging.getLogger().handlers.clear()
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert headers["traceparent"].startswith(f"00-{inside['trace_id']}-{inside['span_id']}-")
    assert "trace_id" not in outside and "span_id" not in outside
    stamp = datetime.fromisoformat(inside["time"])
    assert stamp.utcoffset() is not None and inside["time"].endswith("+00:00")


def test_a_request_id_is_kept_when_tame_and_short_else_replaced() -> None:
    assert request_id_of([("x-request-id", "abc-123.x:y")]) == "abc-123.x:y"
    for bad in ("a" * 65, "has space", "new\nline", ""):
        made = request_id_of([("x-request-id", bad)])
        assert made != bad and len(made) == 16
    assert len(request_id_of(None)) == 16


async def test_channels_send_the_request_id_and_an_explicit_one_wins() -> None:
    """The metadata interceptor adds the caller token and the current request id, keeps an explicit id."""
    interceptor = caller_token_interceptors("caller-token-0123456789")[0]
    seen: list[list[tuple[str, str]]] = []

    async def continuation(details: grpc.aio.ClientCallDetails, _request: object) -> None:
        seen.append(list(details.metadata or ()))

    def details(metadata: tuple[tuple[str, str], ...]) -> grpc.aio.ClientCallDetails:
        return grpc.aio.ClientCallDetails("/s/M", None, grpc.aio.Metadata(*metadata), None, None)

    token = request_id_var.set("req-1")
    try:
        await interceptor.intercept_unary_unary(continuation, details((("authorization", "Bearer x"),)), None)
        await interceptor.intercept_unary_unary(continuation, details((("x-request-id", "mine"),)), None)
    finally:
        request_id_var.reset(token)
    await interceptor.intercept_unary_unary(continuation, details(()), None)
    assert seen[0] == [("authorization", "Bearer caller-token-0123456789"), ("x-request-id", "req-1")]
    assert ("x-request-id", "mine") in seen[1] and ("x-request-id", "req-1") not in seen[1]
    assert seen[2] == [("authorization", "Bearer caller-token-0123456789")]


async def test_the_interceptors_choosing_a_handler_see_the_callers_trace(provider: TracerProvider) -> None:
    """What an interceptor logs before the handler runs (the caller-auth line) carries the caller's
    trace id and its span id, taken from the `traceparent` metadata."""
    first = grpc_server_interceptors()[0]
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    seen: list[tuple[str, str] | None] = []

    async def continuation(_details: grpc.HandlerCallDetails) -> None:
        seen.append(current_trace_ids())

    class Details(grpc.HandlerCallDetails):  # type: ignore[misc]
        method = "/svc/Method"
        invocation_metadata = (("traceparent", f"00-{trace_id}-{parent_id}-01"), ("x-bin", b"\x00"))

    async def call() -> None:  # a task of its own, as grpc.aio gives each call
        await first.intercept_service(continuation, Details())

    await asyncio.create_task(call())
    assert seen == [(trace_id, parent_id)]
    assert current_trace_ids() is None  # the caller's context stayed in the call's task
