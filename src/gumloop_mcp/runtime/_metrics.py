"""Prometheus metrics of a gRPC service: a per-server registry, call-counting interceptors, /metrics.

Each server instance owns its `CollectorRegistry` (several servers run in one test process), and
services add their own metrics to it (`ServiceMetrics.registry`). Every registry also gets
prometheus-client's process, platform and GC collectors (`process_*`: CPU, memory, open fds;
`python_info`; `python_gc_*`).

The gRPC metrics follow go-grpc-prometheus, so stock gRPC dashboards and alerts work on them:
`grpc_server_started_total`, `grpc_server_handled_total`, `grpc_server_handling_seconds` and their
`grpc_client_*` twins, labelled `grpc_type` (unary, client_stream, server_stream, bidi_stream),
`grpc_service` (e.g. gumloop_mcp.tokens.v1.TokenService), `grpc_method` (e.g. ResolveToken) and, on
`*_handled_total`, `grpc_code` (OK, NOT_FOUND, ...).

`GrpcMetricsInterceptor` counts every call of a registered method on a server; a streaming call is
counted once, when the stream ends (the code it ended with: OK, the aborted code, UNKNOWN for an
exception, CANCELLED when the client left). Label values never come from the caller: a method the
server does not register gets no handler (gRPC answers UNIMPLEMENTED) and is not counted, so a
stranger cannot grow the label set, and no metadata or payload is ever read. `GrpcClientMetrics`
counts the calls a channel makes (create_channel(..., metrics=), in the interceptor that already adds
the call's metadata, so counting costs no extra interceptor layer), whose methods are our own code's.

`MetricsEndpoint` serves `GET /metrics` (Prometheus text format) over asyncio streams with h11, not
aiohttp's server: the token service serves nothing else over HTTP, and aiohttp.web would add about
10 MiB to its idle memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any, Final

import grpc
import h11
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = [
    "GRPC_CLIENT_LABELS",
    "GRPC_LABELS",
    "METRICS_DISABLED",
    "GrpcClientMetrics",
    "GrpcMetricsInterceptor",
    "MetricsEndpoint",
    "ServiceMetrics",
    "add_process_collectors",
    "grpc_labels",
    "service_ports",
]

logger = logging.getLogger(__name__)

# `metrics_port` value that turns the endpoint off (0 picks a free port).
METRICS_DISABLED: Final = -1

GRPC_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# Health checks (the kubelet probes every few seconds) are not counted; reflection is (rare, bounded).
DEFAULT_EXCLUDED: Final = ("/grpc.health.v1.Health/",)

_CODES_BY_VALUE: Final = {code.value[0]: code for code in grpc.StatusCode}
GRPC_LABELS: Final = ("grpc_type", "grpc_service", "grpc_method")
GRPC_CLIENT_LABELS: Final = GRPC_LABELS


def grpc_labels(full_method: str, request_streaming: bool, response_streaming: bool) -> tuple[str, str, str]:
    """("unary"|"client_stream"|"server_stream"|"bidi_stream", service, method) of "/pkg.Service/Method"."""
    if request_streaming:
        kind = "bidi_stream" if response_streaming else "client_stream"
    else:
        kind = "server_stream" if response_streaming else "unary"
    service, _, method = full_method.lstrip("/").rpartition("/")
    return kind, service or "unknown", method or "unknown"


def child_of(metric: Counter | Histogram) -> Callable[..., Any]:
    """`metric.labels`, remembering the child of each label tuple: prometheus_client's labels() takes a
    lock and checks its arguments on every call (~1.5 us, several per RPC). The child for given values
    never changes, as nothing here removes children; values are bounded (methods, status codes)."""
    return functools.lru_cache(maxsize=4096)(metric.labels)


def add_process_collectors(registry: CollectorRegistry) -> None:
    """Put prometheus-client's process (CPU, memory, fds), platform and GC collectors on `registry`."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


def _status_name(code: Any, default: grpc.StatusCode) -> str:
    """A StatusCode (or its int, as grpc.aio may report it) as its name, e.g. "NOT_FOUND"."""
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int) and code in _CODES_BY_VALUE:
        return str(_CODES_BY_VALUE[code].name)
    return str(default.name)


def _final_code(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> str:
    try:
        code = context.code()
    except Exception:  # an older or fake context without code()
        code = None
    return _status_name(code, default) if code is not None else str(default.name)


def _code_of_exception(exc: BaseException, context: grpc.aio.ServicerContext) -> str:
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return str(grpc.StatusCode.CANCELLED.name)
    if isinstance(exc, grpc.aio.AbortError):
        # abort() set the code before raising
        return _final_code(context, grpc.StatusCode.UNKNOWN)
    # grpc.aio answers any other exception UNKNOWN
    return str(grpc.StatusCode.UNKNOWN.name)


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts calls by full method and final status code, and observes their latency.

    Put it first in the chain, so calls refused by later interceptors (UNAUTHENTICATED) count too.
    """

    def __init__(
        self,
        started: Counter,
        handled: Counter,
        seconds: Histogram,
        *,
        excluded_prefixes: Sequence[str] = DEFAULT_EXCLUDED,
    ) -> None:
        self._started = child_of(started)
        self._handled = child_of(handled)
        self._seconds = child_of(seconds)
        self._excluded = tuple(excluded_prefixes)

    def _record(self, labels: tuple[str, str, str], code: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        self._handled(*labels, code).inc()
        self._seconds(*labels).observe(elapsed)
        if logger.isEnabledFor(logging.DEBUG):  # one line per call, in its request id and span
            logger.debug("rpc %s/%s %s %.1fms", labels[1], labels[2], code, elapsed * 1000)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        # No handler: not a registered method (UNIMPLEMENTED), whose name the caller chose.
        method = handler_call_details.method or ""
        if handler is None or method.startswith(self._excluded):
            return handler
        labels = grpc_labels(method, handler.request_streaming, handler.response_streaming)
        if handler.response_streaming:
            return self._wrap_stream(handler, labels)
        return self._wrap_unary(handler, labels)

    def _wrap_unary(
        self, handler: grpc.RpcMethodHandler, labels: tuple[str, str, str]
    ) -> grpc.RpcMethodHandler:
        inner = handler.stream_unary if handler.request_streaming else handler.unary_unary
        record = self._record
        counted = self._started(*labels)

        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            counted.inc()
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN.name
            try:
                result = inner(request, context)
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    result = await result
                code = _final_code(context, grpc.StatusCode.OK)
                return result
            except BaseException as exc:
                code = _code_of_exception(exc, context)
                raise
            finally:
                record(labels, code, started)

        make = (
            grpc.stream_unary_rpc_method_handler
            if handler.request_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        return make(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap_stream(
        self, handler: grpc.RpcMethodHandler, labels: tuple[str, str, str]
    ) -> grpc.RpcMethodHandler:
        inner = handler.stream_stream if handler.request_streaming else handler.unary_stream
        record = self._record
        counted = self._started(*labels)

        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            counted.inc()
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN.name
            try:
                result = inner(request, context)
                if hasattr(result, "__aiter__"):
                    # Closed explicitly: a wrapper leaving early must not leave the servicer's
                    # generator (and its `finally`) to the garbage collector.
                    async with contextlib.aclosing(result) as messages:
                        async for message in messages:
                            yield message
                elif result is not None:  # a coroutine writing with context.write()
                    await result
                code = _final_code(context, grpc.StatusCode.OK)
            except BaseException as exc:
                code = _code_of_exception(exc, context)
                raise
            finally:
                record(labels, code, started)

        make = (
            grpc.stream_stream_rpc_method_handler
            if handler.request_streaming
            else grpc.unary_stream_rpc_method_handler
        )
        return make(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcClientMetrics:
    """grpc_client_started_total / _handled_total / _handling_seconds of the calls a channel makes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "grpc_client_started",
            "gRPC calls started by this process, by type, service and method.",
            GRPC_LABELS,
            registry=registry,
        )
        self.handled = Counter(
            "grpc_client_handled",
            "gRPC calls this process made that completed, by type, service, method and status code.",
            [*GRPC_LABELS, "grpc_code"],
            registry=registry,
        )
        self.seconds = Histogram(
            "grpc_client_handling_seconds",
            "Duration of gRPC calls this process made until they completed (a stream: until it ended).",
            GRPC_LABELS,
            buckets=GRPC_BUCKETS,
            registry=registry,
        )
        self._pending: set[asyncio.Task[None]] = set()
        self._started = child_of(self.started)
        self._handled = child_of(self.handled)
        self._seconds = child_of(self.seconds)

    def begin(
        self, method: str | bytes, request_streaming: bool, response_streaming: bool
    ) -> tuple[tuple[str, str, str], float]:
        """Count a call as started; returns its labels and its start time (for `unary`/`watch`)."""
        name = method.decode() if isinstance(method, bytes) else method
        labels = grpc_labels(name, request_streaming, response_streaming)
        self._started(*labels).inc()
        return labels, time.perf_counter()

    def observe(self, labels: tuple[str, str, str], code: str, started: float) -> None:
        """One call ended with `code` after starting at perf_counter() `started`."""
        self._handled(*labels, code).inc()
        self._seconds(*labels).observe(time.perf_counter() - started)

    async def unary(self, call: Any, labels: tuple[str, str, str], started: float) -> Any:
        """Wait for a unary-response call's status, record it, and hand the call back untouched."""
        try:
            code = await call.code()
        except asyncio.CancelledError:
            self.observe(labels, grpc.StatusCode.CANCELLED.name, started)
            raise
        self.observe(labels, _status_name(code, grpc.StatusCode.UNKNOWN), started)
        return call

    def watch(self, call: Any, labels: tuple[str, str, str], started: float) -> Any:
        """Record a streaming call when it ends (its done callback), without standing in its way."""

        def done(finished: Any) -> None:
            task = asyncio.ensure_future(self._ended(finished, labels, started))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        call.add_done_callback(done)
        return call

    async def _ended(self, call: Any, labels: tuple[str, str, str], started: float) -> None:
        try:
            code = _status_name(await call.code(), grpc.StatusCode.UNKNOWN)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED.name
        self.observe(labels, code, started)


class ServiceMetrics:
    """The registry of one server instance: the gRPC server and client metrics every service has, and
    the process collectors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        add_process_collectors(self.registry)
        self.grpc_started = Counter(
            "grpc_server_started",
            "gRPC calls started on the server, by type, service and method.",
            GRPC_LABELS,
            registry=self.registry,
        )
        self.grpc_handled = Counter(
            "grpc_server_handled",
            "gRPC calls completed on the server, by type, service, method and final status code "
            "(streams counted when they end).",
            [*GRPC_LABELS, "grpc_code"],
            registry=self.registry,
        )
        self.grpc_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Duration of gRPC calls on the server until they completed (a stream: until it ended).",
            GRPC_LABELS,
            buckets=GRPC_BUCKETS,
            registry=self.registry,
        )
        self.client = GrpcClientMetrics(self.registry)

    def interceptor(self) -> GrpcMetricsInterceptor:
        """A server interceptor recording into this registry."""
        return GrpcMetricsInterceptor(self.grpc_started, self.grpc_handled, self.grpc_seconds)

    def render(self) -> bytes:
        """Everything in the registry, in the Prometheus text format."""
        return bytes(generate_latest(self.registry))

    def endpoint(self, host: str, port: int) -> MetricsEndpoint | None:
        """The /metrics HTTP endpoint on host:port (0: a free port), or None when port is -1 (off)."""
        if port == METRICS_DISABLED:
            return None
        return MetricsEndpoint(self.registry, host, port)


# A scrape is one small request: its head must fit in this, and arrive within the timeout.
_METRICS_HEAD_LIMIT: Final = 16 * 1024
_METRICS_REQUEST_TIMEOUT_S: Final = 10.0
_METRICS_PATH: Final = b"/metrics"


class MetricsEndpoint:
    """`GET /metrics` over HTTP/1.1, bound in `start()`, closed in `stop()`.

    Every other path answers 404, another method on /metrics 405; one request per connection
    (`Connection: close`), a malformed or oversized request head 400, a slow one is dropped.
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._requested = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.port = 0

    async def start(self) -> int:
        """Bind and serve; returns the bound port. Raises OSError when the port is taken."""
        self._server = await asyncio.start_server(self._serve, self._host, self._requested)
        self.port = int(self._server.sockets[0].getsockname()[1])
        logger.info("metrics on http://%s:%d/metrics", self._host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop serving and drop open connections (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=_METRICS_HEAD_LIMIT)
        try:
            try:
                async with asyncio.timeout(_METRICS_REQUEST_TIMEOUT_S):
                    request = await _next_request(connection, reader)
            except h11.RemoteProtocolError:
                writer.write(_plain_response(connection, 400, b"bad request\n", head_only=False))
                await writer.drain()
                return
            if request is None:
                return  # the client left (or was too slow) before a whole request head
            writer.write(self._answer(connection, request))
            await writer.drain()
        except (OSError, TimeoutError, h11.LocalProtocolError):
            pass  # the client left; nothing to answer
        except asyncio.CancelledError:
            # stop() ends open connections; asyncio's server owns this task and nobody else awaits it,
            # so it ends quietly instead of being logged as a failed callback.
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _answer(self, connection: h11.Connection, request: h11.Request) -> bytes:
        head_only = request.method == b"HEAD"
        if request.target.split(b"?", 1)[0] != _METRICS_PATH:
            return _plain_response(connection, 404, b"not found\n", head_only=head_only)
        if request.method not in (b"GET", b"HEAD"):
            return _plain_response(connection, 405, b"method not allowed\n", head_only=False, allow=True)
        body = generate_latest(self._registry)
        headers = [
            ("Content-Type", CONTENT_TYPE_LATEST),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        out = connection.send(h11.Response(status_code=200, headers=headers, reason=b"OK")) or b""
        if not head_only:
            out += connection.send(h11.Data(data=body)) or b""
        return out + (connection.send(h11.EndOfMessage()) or b"")


async def _next_request(connection: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    """The next request head on `connection` (h11 enforces the size limit), None at end of stream."""
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(4096))  # b"" tells h11 the stream ended
            continue
        return event if isinstance(event, h11.Request) else None


def _plain_response(
    connection: h11.Connection, status: int, body: bytes, *, head_only: bool, allow: bool = False
) -> bytes:
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    if allow:
        headers.append(("Allow", "GET, HEAD"))
    # h11 lets a server answer 400 to a request head it could not parse (from its IDLE state).
    reason = HTTPStatus(status).phrase.encode()
    out = connection.send(h11.Response(status_code=status, headers=headers, reason=reason)) or b""
    if not head_only:
        out += connection.send(h11.Data(data=body)) or b""
    return out + (connection.send(h11.EndOfMessage()) or b"")


def service_ports(grpc_port: int, metrics: MetricsEndpoint | None) -> dict[str, int]:
    """A gRPC service's bound ports: {"grpc": ..., "metrics": ...} ("metrics" only when it serves)."""
    ports = {"grpc": grpc_port}
    if metrics is not None and metrics.port:
        ports["metrics"] = metrics.port
    return ports
