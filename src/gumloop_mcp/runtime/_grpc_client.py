"""gRPC client wiring: channels with round-robin and keepalive, rich error details."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ._logging import request_id_var
from ._metrics import GrpcClientMetrics
from ._tracing import grpc_client_interceptors

__all__ = [
    "caller_token_interceptors",
    "create_channel",
    "error_details",
    "field_violations",
    "is_planned_reconnect",
    "with_details",
]

# Headless Services resolve to every pod; round_robin spreads calls over them,
# and keepalive notices dead pods quickly.
_SERVICE_CONFIG: Final = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})

CHANNEL_OPTIONS: Final[Sequence[tuple[str, Any]]] = (
    ("grpc.service_config", _SERVICE_CONFIG),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
    ("grpc.max_send_message_length", 32 * 1024 * 1024),
    ("grpc.enable_retries", 1),
    # A restarted peer (rollout, crash) is reached again within ~2 s instead of gRPC's default
    # backoff of up to 120 s, during which every call would fail UNAVAILABLE.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # A restarted peer may come back at another address (a new pod, a recreated container): the DNS
    # name is resolved again at most every second, not every 30 s (gRPC's default), so the channel
    # stops dialling the dead address quickly.
    ("grpc.dns_min_time_between_resolutions_ms", 1_000),
)


class _CallMetadata:
    """Adds the caller token (`authorization: Bearer`, replacing any other) and the current request id
    (`x-request-id`, when there is one) to a call's metadata; with `metrics`, counts the call too."""

    def __init__(self, token: str | None, metrics: GrpcClientMetrics | None = None) -> None:
        self._entry = ("authorization", f"Bearer {token}") if token else None
        self._metrics = metrics

    def _with_metadata(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        request_id = request_id_var.get()
        if self._entry is None and not request_id:
            return details
        kept = [(k, v) for k, v in (details.metadata or ()) if not (self._entry and k == "authorization")]
        if self._entry is not None:
            kept.append(self._entry)
        if request_id and not any(k == "x-request-id" for k, _ in kept):  # an explicit one wins
            kept.append(("x-request-id", request_id))
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*kept),
            details.credentials,
            details.wait_for_ready,
        )


# grpc.aio files an interceptor under the FIRST of the four kinds it is an instance of, so each
# kind needs its own class.
class _UnaryUnaryMetadata(_CallMetadata, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        if self._metrics is None:
            return await continuation(self._with_metadata(details), request)
        labels, started = self._metrics.begin(details.method, False, False)
        call = await continuation(self._with_metadata(details), request)
        return await self._metrics.unary(call, labels, started)


class _UnaryStreamMetadata(_CallMetadata, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        if self._metrics is None:
            return await continuation(self._with_metadata(details), request)
        labels, started = self._metrics.begin(details.method, False, True)
        return self._metrics.watch(await continuation(self._with_metadata(details), request), labels, started)


class _StreamUnaryMetadata(_CallMetadata, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        if self._metrics is None:
            return await continuation(self._with_metadata(details), request_iterator)
        labels, started = self._metrics.begin(details.method, True, False)
        call = await continuation(self._with_metadata(details), request_iterator)
        return self._metrics.watch(call, labels, started)


class _StreamStreamMetadata(_CallMetadata, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        if self._metrics is None:
            return await continuation(self._with_metadata(details), request_iterator)
        labels, started = self._metrics.begin(details.method, True, True)
        call = await continuation(self._with_metadata(details), request_iterator)
        return self._metrics.watch(call, labels, started)


_KINDS: Final = (_UnaryUnaryMetadata, _UnaryStreamMetadata, _StreamUnaryMetadata, _StreamStreamMetadata)


def caller_token_interceptors(
    token: str | None, metrics: GrpcClientMetrics | None = None
) -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors adding the caller token (if any) and the request id to every kind of call,
    and counting it in `metrics` (if any)."""
    return [kind(token, metrics) for kind in _KINDS]


def create_channel(
    target: str, *, caller_token: str | None = None, metrics: GrpcClientMetrics | None = None
) -> grpc.aio.Channel:
    """An insecure channel to `target` ("host:port" or "dns:///svc:port") with round-robin.

    With `caller_token`, every call carries it as `authorization: Bearer <token>` metadata
    (the servers' caller tokens; see gumloop_mcp.runtime.CallerTokens). Every call made while a
    request id is set (request_id_var) carries it as `x-request-id`; with tracing on, every call is a
    CLIENT span and sends its `traceparent`. With `metrics`, every call is counted (grpc_client_*).
    """
    if "://" not in target and not target.startswith(("dns:", "unix:", "ipv4:", "ipv6:")):
        target = f"dns:///{target}"
    # Ours last (innermost): metrics see the real call and its end, after tracing's traceparent.
    interceptors = [*grpc_client_interceptors(), *caller_token_interceptors(caller_token, metrics)]
    return grpc.aio.insecure_channel(target, options=list(CHANNEL_OPTIONS), interceptors=interceptors)


def with_details(code: grpc.StatusCode, message: str, *details: Message) -> grpc.Status:
    """A grpc.Status carrying google.rpc.Status details, for `context.abort_with_status`."""
    from google.rpc import status_pb2

    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return rpc_status.to_status(status)


def error_details(error: grpc.aio.AioRpcError | grpc.RpcError) -> list[Any]:
    """The google.rpc.Status detail payloads of an error, each as its own Any (none when unreadable)."""
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        # The details disagree with the call's code: e.g. the transport replaced an answer whose
        # headers were too large with RESOURCE_EXHAUSTED. Its details are not the answer's.
        return []
    return list(status.details) if status is not None else []


def field_violations(error: grpc.aio.AioRpcError | grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) pairs from a google.rpc.BadRequest detail, if any."""
    out: list[tuple[str, str]] = []
    for detail in error_details(error):
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out


# What gRPC core says when a server ends a stream because its connection reached
# grpc.max_connection_age_ms (+ grace): the server's planned recycling, not a fault.
_MAX_AGE_DETAILS: Final = "max connection age"


def is_planned_reconnect(exc: grpc.aio.AioRpcError) -> bool:
    """Whether a long-lived stream ended because the server recycled its connection (max age).

    The server sends GOAWAY at the age, lets open streams run for the grace, then ends them with
    UNAVAILABLE "max connection age"; a killed or stopping server ends them otherwise.
    """
    return exc.code() == grpc.StatusCode.UNAVAILABLE and _MAX_AGE_DETAILS in (exc.details() or "").lower()
