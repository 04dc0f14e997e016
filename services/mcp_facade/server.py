"""The façade's process: public MCP app, admin app, backends, and graceful shutdown.

`create_server()` starts both HTTP servers (port 0 picks a free one) and returns a
`FacadeServer`; `serve()` runs until SIGTERM/SIGINT or `stop`, then shuts down:
readiness flips, new MCP requests get 503, SSE streams are closed, in-flight calls
get `shutdown_grace_s`, then the shared state (memory or Redis, see state.py) and the
backends are closed last.

Any other request still running after the grace (a body that never finished arriving, a long
poll) gets `HANDLER_CUT_S` and is then cancelled: aiohttp's own default would wait 60 s for it
(twice), far past the grace, and `up` would have to kill the process.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from gumloop_mcp.runtime import METRICS_DISABLED, SYSTEM_CLOCK, Clock, MetricsEndpoint, stop_on_signals

from .audit import AuditRecorder
from .audit.factory import open_audit_store
from .contracts import Toolbox
from .metrics import FacadeMetrics
from .oauth import OAuthService, open_oauth
from .protocol.sessions import SessionCodec, SessionStore
from .settings import FacadeSettings
from .state.backends import Backends, connect_backends
from .state.state import FacadeState, MemoryState
from .transport.app import FacadeApp, create_public_app
from .transport.auth import Revocation, TokenResolver
from .transport.connections import FD_RESERVE, ConnectionGuard, GuardedSite, fd_limit
from .transport.health import Health

__all__ = ["FacadeServer", "create_server", "open_state", "serve"]

logger = logging.getLogger(__name__)

# How long aiohttp waits for a request handler still running after the grace before it cancels it,
# and then again for the cancelled handler to end (so at most twice this, per runner, in parallel).
HANDLER_CUT_S: Final = 1.0


@dataclass(slots=True)
class FacadeServer:
    """A running façade: both runners, their bound ports, and what tests may poke at."""

    public_runner: web.AppRunner
    admin_runner: web.AppRunner
    public_port: int
    admin_port: int
    facade: FacadeApp
    resolver: TokenResolver
    backends: Backends | None
    health: Health
    owns_backends: bool
    state: FacadeState
    metrics_endpoint: MetricsEndpoint | None = None
    audit: AuditRecorder | None = None

    @property
    def metrics_port(self) -> int:
        """The bound port of the own /metrics endpoint (0 when it is off)."""
        return self.metrics_endpoint.port if self.metrics_endpoint is not None else 0

    @property
    def ports(self) -> dict[str, int]:
        """{"http": ..., "admin": ..., "metrics": ...} ("metrics" only when it serves)."""
        ports = {"http": self.public_port, "admin": self.admin_port}
        if self.metrics_port:
            ports["metrics"] = self.metrics_port
        return ports

    async def close(self, grace_s: float = 0.0) -> None:
        """Graceful shutdown (see module docstring)."""
        self.health.shutting_down = True
        await self.facade.shutdown(grace_s)
        await self.resolver.stop()
        await asyncio.gather(self.public_runner.cleanup(), self.admin_runner.cleanup())
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()
        await self.state.close()
        if self.audit is not None:  # after the calls: their records are queued, then drained
            await self.audit.close()
        if self.backends is not None and self.owns_backends:
            await self.backends.close()


def open_state(settings: FacadeSettings, metrics: FacadeMetrics | None = None) -> FacadeState:
    """The backend settings.store names (not yet started)."""
    if settings.store == "redis":
        if settings.redis_url is None:
            raise ValueError("GMCP_FACADE_REDIS_URL is required when GMCP_FACADE_STORE=redis")
        from .state.state_redis import RedisState  # redis-py only where Redis is used

        return RedisState(settings.redis_url.get_secret_value(), settings.redis_key_prefix, metrics)
    return MemoryState(metrics)


def _session_secret(settings: FacadeSettings) -> bytes:
    if settings.session_secret is not None and settings.session_secret.get_secret_value():
        return settings.session_secret.get_secret_value().encode()
    logger.warning(
        "session_secret is not set: using a random per-process key; sessions will not survive a restart "
        "and every replica must share GMCP_FACADE_SESSION_SECRET to serve each other's sessions"
    )
    return secrets.token_bytes(32)


def _default_toolbox(settings: FacadeSettings, backends: Backends) -> Toolbox:
    # The tool layer, imported late so that the protocol layer stands (and is tested) alone.
    module = importlib.import_module(".tools.toolbox", __package__)
    toolbox: Toolbox = module.GumloopToolbox(backends.proxy, settings)
    return toolbox


def _admin_app(
    settings: FacadeSettings,
    backends: Backends | None,
    health: Health,
    metrics: FacadeMetrics,
    audit: AuditRecorder | None = None,
    oauth: OAuthService | None = None,
    witness: Callable[[Revocation], None] | None = None,
) -> web.Application:
    app: web.Application | None = None
    if backends is not None:
        try:
            module = importlib.import_module(".management.management", __package__)
        except ModuleNotFoundError as exc:
            if exc.name not in {f"{__package__}.management", f"{__package__}.management.management"}:
                raise  # the module exists but is broken: fail loudly
            logger.warning("management API unavailable; the admin port serves health and metrics only")
        else:
            app = module.create_admin_app(
                settings, backends, oauth, audit=audit.store if audit else None, witness=witness
            )
    if app is None:
        app = web.Application()
    paths = {getattr(r, "canonical", "") for r in app.router.resources()}
    if "/healthz" not in paths:
        app.router.add_get("/healthz", health.healthz)
    if "/readyz" not in paths:
        app.router.add_get("/readyz", health.readyz)
    if "/metrics" not in paths:
        app.router.add_get("/metrics", metrics.handle)
    return app


def _connection_limits(settings: FacadeSettings) -> tuple[int, int]:
    """The public and admin connection limits, kept below the file-descriptor limit."""
    wanted = settings.max_connections + settings.admin_max_connections + FD_RESERVE
    available = fd_limit(wanted) - FD_RESERVE
    admin = max(1, min(settings.admin_max_connections, available // 10))
    public = max(1, min(settings.max_connections, available - admin))
    if public < settings.max_connections:
        logger.warning(
            "max_connections lowered from %d to %d to stay below the file-descriptor limit",
            settings.max_connections,
            public,
        )
    return public, admin


async def _start(
    app: web.Application,
    host: str,
    port: int,
    guard: ConnectionGuard,
    settings: FacadeSettings,
    *,
    max_line_size: int = 8190,
) -> tuple[web.AppRunner, int]:
    # First, so that it sees every request start (it ends the connection's header timeout).
    app.middlewares.insert(0, guard.middleware())
    runner = web.AppRunner(
        app,
        access_log=None,
        handler_cancellation=True,
        keepalive_timeout=settings.keepalive_timeout_s,
        shutdown_timeout=HANDLER_CUT_S,
        max_line_size=max_line_size,
    )
    await runner.setup()
    site = GuardedSite(runner, host, port, guard)
    await site.start()
    return runner, site.port


async def create_server(
    settings: FacadeSettings,
    *,
    backends: Backends | None = None,
    toolbox: Toolbox | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> FacadeServer:
    """Start the public and admin HTTP servers and the revocation watch.

    Without `backends`, channels to `tokens_target` / `proxy_target` are opened (and
    closed on `close()`). Without `toolbox`, the catalog-backed `GumloopToolbox` is used.
    `clock` is what the token checks and the MCP endpoint read expiries on (tests move it).
    """
    metrics = FacadeMetrics()
    state = open_state(settings, metrics)  # first: a bad store setting fails before anything opens
    audit = AuditRecorder(
        open_audit_store(settings),
        queue_size=settings.audit_queue_size,
        retention_s=settings.audit_retention_days * 86400,
        sweep_every_s=settings.audit_sweep_interval_s,
        registry=metrics.registry,
    )
    owns = backends is None
    if backends is None:
        backends = await connect_backends(settings, metrics.grpc_client)
    if toolbox is None:
        toolbox = _default_toolbox(settings, backends)
    health = Health(backends)
    resolver = TokenResolver(
        backends.tokens,
        ttl_s=settings.token_cache_ttl_s,
        max_size=settings.token_cache_size,
        deadline_s=min(settings.request_deadline_s, 10.0),
        clock=clock,
    )
    resolver.start()
    await state.start()
    await audit.start()
    sessions = SessionStore(SessionCodec(_session_secret(settings), settings.session_ttl_s), state)
    oauth = open_oauth(settings)  # one authorization server for the public and the admin app
    public_app, facade = create_public_app(
        settings, toolbox, resolver, sessions, state, health, metrics=metrics, oauth=oauth, clock=clock
    )
    facade.protocol.audit = audit
    public_limit, admin_limit = _connection_limits(settings)
    public_guard = ConnectionGuard("public", public_limit, settings.header_timeout_s, metrics)
    admin_guard = ConnectionGuard("admin", admin_limit, settings.header_timeout_s, metrics)
    admin_app = _admin_app(
        settings, backends, health, metrics, audit=audit, oauth=oauth, witness=resolver.witness
    )
    # The MCP handlers time their own body reads after authorising; the admin handlers do not.
    admin_app.middlewares.append(admin_guard.body_deadline_middleware(settings.body_timeout_s))
    public_runner, public_port = await _start(
        public_app, settings.host, settings.port, public_guard, settings
    )
    admin_runner, admin_port = await _start(
        admin_app,
        settings.admin_host,
        settings.admin_port,
        admin_guard,
        settings,
        max_line_size=32768,  # the OAuth callback's query (see management._CALLBACK_LIMITS)
    )
    endpoint = None
    if settings.metrics_port != METRICS_DISABLED:
        endpoint = MetricsEndpoint(metrics.registry, settings.admin_host, settings.metrics_port)
        try:
            await endpoint.start()
        except BaseException:
            await asyncio.gather(public_runner.cleanup(), admin_runner.cleanup())
            raise
    logger.info(
        "façade serving MCP on %s:%d, admin on %s:%d",
        settings.host,
        public_port,
        settings.admin_host,
        admin_port,
    )
    return FacadeServer(
        public_runner,
        admin_runner,
        public_port,
        admin_port,
        facade,
        resolver,
        backends,
        health,
        owns,
        state,
        endpoint,
        audit=audit,
    )


async def serve(
    settings: FacadeSettings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], None] | None = None,
    backends: Backends | None = None,
    toolbox: Toolbox | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT or `stop`; `on_ready(ports)` once listening, with the bound
    {"http": ..., "admin": ..., "metrics": ...} ("metrics" absent when metrics_port is -1)."""
    stop = stop or asyncio.Event()
    with stop_on_signals(stop):  # trapped first: a SIGTERM right after the ready line still stops cleanly
        server = await create_server(settings, backends=backends, toolbox=toolbox)
        try:
            if on_ready is not None:
                on_ready(server.ports)
            await stop.wait()
        finally:
            logger.info("shutting down, grace %.1fs", settings.shutdown_grace_s)
            await server.close(settings.shutdown_grace_s)
            logger.info("stopped")
