"""Prometheus metrics of the façade, served on its metrics port (GMCP_FACADE_METRICS_PORT) and the admin port.

Each server instance owns its registry, so several façades (tests, replicas in one
process) never collide on metric registration.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from gumloop_mcp.runtime import GrpcClientMetrics, add_process_collectors

__all__ = ["FacadeMetrics"]


class FacadeMetrics:
    """Requests by method and status, tool-call latency, shared-state failures, SSE streams, limits."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        add_process_collectors(self.registry)
        # Calls to the token service and the proxy (grpc_client_*).
        self.grpc_client = GrpcClientMetrics(self.registry)
        self.requests = Counter(
            "gmcp_facade_requests",
            "MCP HTTP requests by JSON-RPC method and HTTP status.",
            ["method", "status"],
            registry=self.registry,
        )
        self.tool_calls = Histogram(
            "gmcp_facade_tool_call_seconds",
            "Latency of tools/call, by outcome (ok, tool_error, unknown_tool, cancelled, revoked, budget).",
            ["outcome"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.state_unavailable = Counter(
            "gmcp_facade_state_unavailable",
            "Shared-state (Redis) failures by feature (budget and session fail open; tasks, sse error).",
            ["feature"],
            registry=self.registry,
        )
        self.active_sse = Gauge(
            "gmcp_facade_active_sse_streams", "Open SSE streams (all kinds).", registry=self.registry
        )
        self.limit_tripped = Counter(
            "gmcp_facade_limit_tripped",
            "Requests refused or connections closed by a resource bound, by limit (batch_size, budget, "
            "streams_per_server, streams_per_client, sse_inflight, sse_buffer, connections, "
            "header_timeout, body_timeout) and port (public, admin).",
            ["limit", "port"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "gmcp_facade_open_connections", "Open HTTP connections by port.", ["port"], registry=self.registry
        )

    def tripped(self, limit: str, port: str = "public") -> None:
        """Count one refusal (or cut) by the resource bound `limit`."""
        self.limit_tripped.labels(limit, port).inc()

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics in the Prometheus text format."""
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
