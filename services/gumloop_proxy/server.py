"""Wiring of the Gumloop proxy: catalog, account store, upstream client, servicer, gRPC server."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import grpc
from grpc_health.v1 import health

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import (
    CallerTokens,
    MetricsEndpoint,
    ServiceMetrics,
    create_grpc_server,
    serve_until_stopped,
    service_ports,
    start_serving,
)

from .account_store_sqlite import SqliteAccountStore
from .accounts import AccountStore
from .catalog import Catalog, default_catalog
from .crypto import load_cipher
from .decoding import ContentDecoder
from .idempotency import IdempotencyStore, MemoryIdempotencyStore
from .servicer import ProxyServicer
from .settings import ProxySettings
from .upstream import Upstream, UpstreamMetrics

__all__ = ["ProxyServer", "create_server", "open_account_store", "open_idempotency_store", "serve"]

logger = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ProxyService"].full_name


def open_account_store(settings: ProxySettings) -> AccountStore:
    """The store settings.store names, with the credential cipher from settings."""
    cipher = load_cipher(settings)
    if settings.store == "redis":
        if settings.redis_url is None:
            raise ValueError("GMCP_PROXY_REDIS_URL is required when GMCP_PROXY_STORE=redis")
        from .account_store_redis import RedisAccountStore  # redis-py only where Redis is used

        return RedisAccountStore(settings.redis_url.get_secret_value(), settings.redis_key_prefix, cipher)
    path = settings.sqlite_path or settings.data_dir / "proxy.sqlite3"
    return SqliteAccountStore(path, cipher)


def open_idempotency_store(settings: ProxySettings) -> IdempotencyStore:
    """The store settings.store implies: Redis shared by replicas, or this process's memory."""
    if settings.store == "redis":
        if settings.redis_url is None:
            raise ValueError("GMCP_PROXY_REDIS_URL is required when GMCP_PROXY_STORE=redis")
        from .idempotency_redis import RedisIdempotencyStore  # redis-py only where Redis is used

        lease_s = settings.idempotency_lease_s or settings.request_timeout_s + 30.0
        return RedisIdempotencyStore(
            settings.redis_url.get_secret_value(),
            settings.redis_key_prefix,
            ttl_s=settings.idempotency_ttl_s,
            lease_s=lease_s,
            timeout_s=settings.idempotency_redis_timeout_s,
        )
    return MemoryIdempotencyStore(settings.idempotency_ttl_s)


@dataclass
class ProxyServer:
    """A built proxy: call `start()` (or use `async with`) and `stop()`."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    store: AccountStore
    upstream: Upstream
    catalog: Catalog
    idempotency: IdempotencyStore | None = None
    decoder: ContentDecoder | None = None
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    metrics_endpoint: MetricsEndpoint | None = None
    _started: bool = field(default=False, init=False)

    @property
    def ports(self) -> dict[str, int]:
        """The bound ports: {"grpc": ..., "metrics": ...} ("metrics" only when the endpoint is on)."""
        return service_ports(self.port, self.metrics_endpoint)

    async def start(self) -> None:
        """Serve /metrics (when on), then gRPC; health turns SERVING."""
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.start()
        await start_serving(self.server, self.health)
        self._started = True

    async def stop(self, grace_s: float | None = None) -> None:
        """Flip health, let in-flight calls finish within `grace_s`, close the HTTP pool and the stores,
        and last the metrics endpoint (scrapes during the drain still see the final counts)."""
        if self._started:
            await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        self._started = False
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()
        await self.upstream.close()
        await self.store.close()
        if self.idempotency is not None:
            await self.idempotency.close()
        if self.decoder is not None:
            self.decoder.close()

    async def __aenter__(self) -> ProxyServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop(0.5)


async def create_server(
    settings: ProxySettings, *, catalog: Catalog | None = None, clock: Callable[[], float] | None = None
) -> ProxyServer:
    """Build (not start) the proxy on settings.host:settings.grpc_port (0 picks a free port).

    The catalog is validated here: a broken catalog file stops the service before it serves. `clock`
    (seconds since the epoch; default time.time) is what OAuth token expiry is judged by (tests shift it).
    """
    catalog = catalog or default_catalog()
    metrics = ServiceMetrics()
    store = open_account_store(settings)
    idempotency = open_idempotency_store(settings)
    upstream = Upstream(settings, metrics=UpstreamMetrics(metrics.registry, catalog.operations))
    decoder = ContentDecoder(settings.decode_workers, settings.decode_cache_max_bytes)
    servicer = ProxyServicer(
        settings, catalog, store, upstream, idempotency, decoder=decoder, clock=clock or time.time
    )
    callers = settings.caller_tokens
    try:
        server, port, health_servicer = create_grpc_server(
            lambda s: pb_grpc.add_ProxyServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
            host=settings.host,
            port=settings.grpc_port,
            caller_tokens=CallerTokens.parse(callers.get_secret_value() if callers else None),
            service_label="proxy",
            caller_setting="GMCP_PROXY_CALLER_TOKENS",
            metrics=metrics,
        )
    except BaseException:
        await upstream.close()
        await store.close()
        await idempotency.close()
        decoder.close()
        raise
    logger.info("catalog %s with %d operations", catalog.version, len(catalog.operations))
    return ProxyServer(
        server,
        port,
        health_servicer,
        store,
        upstream,
        catalog,
        idempotency,
        decoder,
        metrics,
        metrics.endpoint(settings.host, settings.metrics_port),
    )


async def serve(
    settings: ProxySettings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or `stop`), then shut down gracefully.

    `on_ready` receives the bound ports, e.g. {"grpc": 50052, "metrics": 9092}, once the service answers
    ("metrics" is absent when metrics_port is -1).
    """
    await serve_until_stopped(
        lambda: create_server(settings),
        ports=lambda proxy: proxy.ports,
        grace_s=settings.shutdown_grace_s,
        stop=stop,
        on_ready=on_ready,
        description=f"proxy on {settings.host} (store: {settings.store})",
    )
