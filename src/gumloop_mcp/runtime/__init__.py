"""Code shared by every service, and nothing else: logging, gRPC wiring and metrics, settings, tokens,
JSON Schema."""

from ._callerauth import CallerAuthInterceptor, CallerTokens, is_caller_refusal, is_loopback_host
from ._clock import SYSTEM_CLOCK, Clock, SystemClock
from ._deployed_imports import DEPLOYED_WITHOUT, import_as_deployed
from ._entry import run_entry_point
from ._eventloop import announce_serving, freeze_startup_heap, run_service
from ._files import private_directory, private_file
from ._grpc_client import create_channel, error_details, field_violations, is_planned_reconnect, with_details
from ._grpc_server import RequestContextInterceptor, create_grpc_server, start_serving
from ._json import dumpb as json_dumpb
from ._json import dumps as json_dumps
from ._json import loads as json_loads
from ._jsonschema import compiled_validator, schema_violations
from ._lifecycle import Servable, serve_until_stopped, stop_on_signals
from ._logging import (
    REDACTED,
    RedactingFilter,
    RepeatLimitFilter,
    caller_var,
    configure,
    new_request_id,
    redact,
    request_id_var,
)
from ._memory import release_free_memory
from ._metrics import (
    METRICS_DISABLED,
    GrpcClientMetrics,
    GrpcMetricsInterceptor,
    MetricsEndpoint,
    ServiceMetrics,
    add_process_collectors,
    child_of,
    service_ports,
)
from ._settings import GrpcServiceSettings, ServiceSettings
from ._tokenformat import TokenKind, generate_token, hash_token, is_well_formed, token_prefix, tokens_equal
from ._tracing import (
    configure_tracing,
    current_trace_ids,
    extract_context,
    grpc_client_interceptors,
    grpc_server_interceptors,
    inject_headers,
    shutdown_tracing,
    tracer,
    tracing_enabled,
)

__all__ = [
    "DEPLOYED_WITHOUT",
    "SYSTEM_CLOCK",
    "Clock",
    "SystemClock",
    "configure_tracing",
    "current_trace_ids",
    "extract_context",
    "grpc_client_interceptors",
    "grpc_server_interceptors",
    "inject_headers",
    "shutdown_tracing",
    "tracer",
    "tracing_enabled",
    "CallerAuthInterceptor",
    "CallerTokens",
    "GrpcClientMetrics",
    "GrpcMetricsInterceptor",
    "GrpcServiceSettings",
    "METRICS_DISABLED",
    "MetricsEndpoint",
    "REDACTED",
    "RedactingFilter",
    "RepeatLimitFilter",
    "RequestContextInterceptor",
    "Servable",
    "ServiceMetrics",
    "ServiceSettings",
    "TokenKind",
    "add_process_collectors",
    "caller_var",
    "child_of",
    "compiled_validator",
    "configure",
    "create_channel",
    "create_grpc_server",
    "error_details",
    "field_violations",
    "announce_serving",
    "freeze_startup_heap",
    "generate_token",
    "import_as_deployed",
    "hash_token",
    "is_caller_refusal",
    "is_planned_reconnect",
    "is_loopback_host",
    "is_well_formed",
    "json_dumpb",
    "json_dumps",
    "json_loads",
    "private_directory",
    "private_file",
    "new_request_id",
    "redact",
    "release_free_memory",
    "run_entry_point",
    "run_service",
    "request_id_var",
    "schema_violations",
    "serve_until_stopped",
    "service_ports",
    "start_serving",
    "stop_on_signals",
    "token_prefix",
    "tokens_equal",
    "with_details",
]
