"""Wiring of the token service: store, revocation hub, proxy client, servicer, gRPC server, shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health

from gumloop_mcp.runtime import (
    CallerTokens,
    MetricsEndpoint,
    ServiceMetrics,
    create_channel,
    create_grpc_server,
    serve_until_stopped,
    service_ports,
    start_serving,
)
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc

from .catalog_client import ProxyClient
from .pepper import load_pepper
from .revocations import RevocationHub
from .servicer import TokenMetrics, TokenServicer
from .settings import TokenSettings
from .store import Clock, TokenStore
from .store_sqlite import SqliteTokenStore

__all__ = ["TokenServer", "create_server", "serve"]

logger = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TokenService"].full_name


@dataclass
class TokenServer:
    """A built token service: call `start()` (or use `async with`) and `stop()`."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    store: TokenStore
    hub: RevocationHub
    proxy_channel: grpc.aio.Channel
    owns_channel: bool
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    metrics_endpoint: MetricsEndpoint | None = None
    _started: bool = field(default=False, init=False)

    @property
    def ports(self) -> dict[str, int]:
        """The bound ports: {"grpc": ..., "metrics": ...} ("metrics" only when the endpoint is on)."""
        return service_ports(self.port, self.metrics_endpoint)

    async def start(self) -> None:
        """Serve /metrics (when on), open the store (and its expiry scheduler / Redis listener), then gRPC."""
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.start()
        await self.store.start()
        await start_serving(self.server, self.health)
        self._started = True

    async def stop(self, grace_s: float | None = None) -> None:
        """Flip health, end watch streams, let in-flight calls finish within `grace_s`, close the store."""
        if self._started:
            await self.health.enter_graceful_shutdown()
            # Watch streams never end by themselves; ending them lets server.stop() finish promptly.
            self.hub.close_all("token service is shutting down; re-watch another replica")
            await self.server.stop(grace_s)
            await self.store.close()
            self._started = False
        else:
            await self.server.stop(None)
        if self.owns_channel:
            await self.proxy_channel.close()
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()

    async def __aenter__(self) -> TokenServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop(0.5)


def _build_store(settings: TokenSettings, hub: RevocationHub, clock: Clock) -> TokenStore:
    if settings.store == "redis":
        if settings.redis_url is None:
            raise ValueError("GMCP_TOKENS_REDIS_URL is required with GMCP_TOKENS_STORE=redis")
        from .store_redis import RedisTokenStore  # redis-py only where Redis is used (~20 MiB resident)

        return RedisTokenStore(settings.redis_url.get_secret_value(), settings.redis_key_prefix, hub, clock)
    path = settings.sqlite_path or Path(settings.data_dir) / "tokens.sqlite3"
    return SqliteTokenStore(Path(path), hub, clock)


async def create_server(
    settings: TokenSettings,
    *,
    clock: Clock | None = None,
    proxy_channel: grpc.aio.Channel | None = None,
) -> TokenServer:
    """Build (not start) the token service on settings.host:settings.grpc_port (0 picks a free port).

    `clock` (default time.time) drives expiry; `proxy_channel` replaces the channel to
    settings.proxy_target (the caller keeps ownership of a channel it passes in).
    """
    callers = settings.caller_tokens
    # Parsed first: a malformed list stops the service before anything is opened.
    caller_tokens = CallerTokens.parse(callers.get_secret_value() if callers else None)
    clock = clock or time.time
    hub = RevocationHub()
    store = _build_store(settings, hub, clock)
    owns_channel = proxy_channel is None
    caller_token = settings.proxy_caller_token
    metrics = ServiceMetrics()
    channel = proxy_channel or create_channel(
        settings.proxy_target,
        caller_token=caller_token.get_secret_value() if caller_token else None,
        metrics=metrics.client,
    )
    proxy = ProxyClient(
        channel,
        target=settings.proxy_target,
        timeout_s=settings.proxy_timeout_s,
        cache_s=settings.catalog_cache_s,
    )
    servicer = TokenServicer(
        settings, store, hub, proxy, load_pepper(settings), clock, TokenMetrics(metrics.registry, hub)
    )
    server, port, health_servicer = create_grpc_server(
        lambda s: pb_grpc.add_TokenServiceServicer_to_server(servicer, s),
        [SERVICE_NAME],
        host=settings.host,
        port=settings.grpc_port,
        caller_tokens=caller_tokens,
        service_label="token service",
        caller_setting="GMCP_TOKENS_CALLER_TOKENS",
        metrics=metrics,
    )
    return TokenServer(
        server,
        port,
        health_servicer,
        store,
        hub,
        channel,
        owns_channel,
        metrics,
        metrics.endpoint(settings.host, settings.metrics_port),
    )


async def serve(
    settings: TokenSettings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or `stop`), then shut down gracefully.

    `on_ready` receives the bound ports, e.g. {"grpc": 50051, "metrics": 9091}, once the service answers
    ("metrics" is absent when metrics_port is -1).
    """
    await serve_until_stopped(
        lambda: create_server(settings),
        ports=lambda tokens: tokens.ports,
        grace_s=settings.shutdown_grace_s,
        stop=stop,
        on_ready=on_ready,
        description=f"token service on {settings.host} (store: {settings.store})",
    )
