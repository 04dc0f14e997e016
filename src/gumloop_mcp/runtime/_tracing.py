"""OpenTelemetry tracing, on only when an OTLP endpoint is configured.

`configure_tracing(name)` (each service's `main()`) installs the SDK tracer provider with an OTLP/HTTP
(protobuf) exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set and
`OTEL_SDK_DISABLED` is not true; the other standard `OTEL_*` variables (headers, timeout, batch
processor, sampler, resource attributes, `OTEL_SERVICE_NAME`) apply as the SDK reads them. Otherwise
nothing is installed: no SDK provider, no gRPC interceptors, no span objects, and the façade's
middleware skips its span, so a call pays one boolean check.

Context crosses processes as W3C `traceparent` (and `baggage`): in HTTP headers (façade ingress, the
proxy's upstream requests) and in gRPC metadata (the opentelemetry-instrumentation-grpc interceptors
on every server and channel). Span attributes name methods, operations, ids and outcomes: never a
token, an argument value, a URL query or a credential.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context

__all__ = [
    "configure_tracing",
    "current_trace_ids",
    "extract_context",
    "grpc_client_interceptors",
    "grpc_server_interceptors",
    "inject_headers",
    "shutdown_tracing",
    "tracer",
    "tracing_enabled",
]

logger = logging.getLogger(__name__)

_ENDPOINT_VARS: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_INSTRUMENTATION: Final = "gumloop_mcp"

_state: dict[str, Any] = {"provider": None}


def _wanted(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in _ENDPOINT_VARS)


def configure_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install the SDK tracer provider exporting over OTLP/HTTP, when an endpoint is configured.

    `service_name` is the `service.name` resource attribute unless `OTEL_SERVICE_NAME` (or
    `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) says otherwise. Returns whether tracing is on.
    `environ` (default os.environ) is where the switch is read; the SDK reads its settings from
    os.environ. Only OTLP/HTTP with protobuf is sent: another OTEL_EXPORTER_OTLP_PROTOCOL is a WARNING.
    Call once per process, before servers and channels are created; `shutdown_tracing()` at exit
    exports what is still queued.
    """
    env = os.environ if environ is None else environ
    if _state["provider"] is not None or not _wanted(env):
        return _state["provider"] is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    detected = Resource.create()
    named = bool(env.get("OTEL_SERVICE_NAME", "").strip()) or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol.strip() != "http/protobuf":
        logger.warning(
            "tracing: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported; sending OTLP/HTTP (http/protobuf)",
            protocol.strip(),
        )
    resource = detected if named else detected.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _state["provider"] = provider
    logger.info(
        "tracing: exporting spans over OTLP/HTTP as service.name=%s", resource.attributes.get(SERVICE_NAME)
    )
    return True


def shutdown_tracing() -> None:
    """Export the spans still queued and stop the provider (a no-op when tracing is off)."""
    provider, _state["provider"] = _state["provider"], None
    if provider is not None:
        provider.shutdown()


def tracing_enabled() -> bool:
    """Whether this process records and exports spans."""
    return _state["provider"] is not None


def tracer(name: str = _INSTRUMENTATION) -> trace.Tracer:
    """The tracer for `name` (the no-op one while tracing is off)."""
    return trace.get_tracer(name)


class _CallerContextInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Makes the caller's trace context (its `traceparent` metadata) current while the interceptors
    choose the handler, so that what they log (the caller-auth line, a refusal) carries the call's
    trace id; the span id there is the caller's CLIENT span, the SERVER span opening only with the
    handler. The context lives in the call's own task, like the request id."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        carrier = {
            key: value
            for key, value in (handler_call_details.invocation_metadata or ())
            if isinstance(value, str)
        }
        otel_context.attach(propagate.extract(carrier))
        return await continuation(handler_call_details)


def grpc_server_interceptors() -> list[Any]:
    """The server interceptors continuing the caller's trace ([] when off): the caller's context for
    the interceptors after them, then a SERVER span per call around the handler."""
    if not tracing_enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [_CallerContextInterceptor(), aio_server_interceptor()]  # type: ignore[no-untyped-call]


def grpc_client_interceptors() -> list[Any]:
    """Client interceptors opening a span per call and sending `traceparent` metadata ([] when off)."""
    if not tracing_enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())  # type: ignore[no-untyped-call]


def inject_headers(headers: MutableMapping[str, str]) -> None:
    """Add `traceparent` (and `baggage`) for the current span to outgoing HTTP headers (when on)."""
    if tracing_enabled():
        propagate.inject(headers)


def extract_context(headers: Mapping[str, str]) -> Context:
    """The trace context an incoming request's headers carry (an empty one when none)."""
    return propagate.extract(headers)


def current_trace_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span as lowercase hex, or None outside a recorded span."""
    if not tracing_enabled():
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
