"""gRPC server wiring shared by the services: health, reflection, interceptors, shutdown."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ._callerauth import CallerAuthInterceptor, CallerTokens, is_loopback_host
from ._logging import caller_var, new_request_id, request_id_var
from ._metrics import ServiceMetrics
from ._reflection import enable_reflection
from ._tracing import grpc_server_interceptors

__all__ = ["RequestContextInterceptor", "caller_auth", "create_grpc_server", "start_serving"]

logger = logging.getLogger(__name__)

# Connections are recycled so that new replicas behind a headless Service get
# traffic from long-lived clients doing client-side round-robin.
MAX_CONNECTION_AGE_MS: Final = 5 * 60 * 1000
MAX_CONNECTION_AGE_GRACE_MS: Final = 30 * 1000
MAX_MESSAGE_BYTES: Final = 32 * 1024 * 1024

SERVER_OPTIONS: Final[Sequence[tuple[str, Any]]] = (
    ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
    ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)


# A request id the caller sends is kept when it is this tame and short (the façade's are).
_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_of(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """The caller's `x-request-id` metadata when well-formed, else a new 16-hex-digit id."""
    for key, value in metadata or ():
        if key == "x-request-id" and isinstance(value, str) and _REQUEST_ID.match(value):
            return value
    return new_request_id()


class RequestContextInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Sets the request id (the caller's `x-request-id` metadata if well-formed, else a new one),
    which every log line of the call carries. Reads no other metadata and no payload.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        request_id_var.set(request_id_of(handler_call_details.invocation_metadata))
        caller_var.set("")
        return await continuation(handler_call_details)


def caller_auth(
    caller_tokens: CallerTokens | None, *, host: str, service_label: str, caller_setting: str = ""
) -> CallerAuthInterceptor | None:
    """The interceptor enforcing `caller_tokens`, or None (open) when there are none.

    Open on a non-loopback address is logged as a WARNING naming the setting that closes it.
    """
    if caller_tokens:
        logger.info(
            "%s accepts %d caller token(s) of: %s",
            service_label,
            len(caller_tokens),
            ", ".join(caller_tokens.names),
        )
        return CallerAuthInterceptor(caller_tokens, service_label)
    if not is_loopback_host(host):
        logger.warning(
            "%s is bound to %s with NO caller tokens: anyone who reaches it can call every RPC "
            "(and act for every account); set %s",
            service_label,
            host,
            caller_setting or "its caller tokens",
        )
    return None


def create_grpc_server(
    register: Callable[[grpc.aio.Server], None],
    service_names: Iterable[str],
    *,
    host: str,
    port: int,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    caller_tokens: CallerTokens | None = None,
    service_label: str = "this service",
    caller_setting: str = "",
    metrics: ServiceMetrics | None = None,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """Build a grpc.aio server with the services, health checking and reflection (v1 and v1alpha).

    With `caller_tokens`, every RPC but health and reflection needs a known caller's bearer token
    (see CallerAuthInterceptor). Without any, the server is open, and says so loudly at start
    unless it is bound to loopback only (`caller_setting` names the env var that would close it).
    With `metrics`, every call is counted into its registry (first in the chain, so refused calls count).
    With tracing on (configure_tracing), every call is a SERVER span continuing the caller's trace.
    Returns the server (not started), the bound port (pass 0 to pick a free one)
    and the health servicer; statuses become SERVING in `start_serving()`.
    """
    chain: list[grpc.aio.ServerInterceptor] = grpc_server_interceptors()
    if metrics is not None:
        chain.append(metrics.interceptor())
    chain.append(RequestContextInterceptor())
    auth = caller_auth(caller_tokens, host=host, service_label=service_label, caller_setting=caller_setting)
    if auth is not None:
        chain.append(auth)
    server = grpc.aio.server(interceptors=[*chain, *interceptors], options=list(SERVER_OPTIONS))
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(service_names)
    enable_reflection([*names, health.SERVICE_NAME], server)  # grpc.reflection.v1 and v1alpha
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind gRPC port {host}:{port}")
    server._gumloop_service_names = names  # read by start_serving
    return server, bound, health_servicer


async def start_serving(server: grpc.aio.Server, health_servicer: health.aio.HealthServicer) -> None:
    """Start the server and mark it and each of its services SERVING."""
    await server.start()
    for name in ["", *getattr(server, "_gumloop_service_names", [])]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
