"""Mounting the console on the admin app: its pages, static files, templates and middleware."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from aiohttp import web

from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub

from ..oauth.service import OAuthService
from ..settings import FacadeSettings
from . import views
from .app import (
    CLIENT_KEY,
    CONSOLE_PREFIX,
    IDP_KEY,
    SESSIONS_KEY,
    TEMPLATES_KEY,
    Templates,
    console_middleware,
    static_file,
)
from .client import ManagementClient
from .idp import ConsoleIdentityProvider, console_allowed_set
from .sessions import ConsoleSessions, MemoryConsoleSessions

__all__ = ["attach_console", "open_console_sessions"]

HERE: Final = Path(__file__).parent


def attach_console(
    app: web.Application, settings: FacadeSettings, *, tokens: TokenServiceStub, oauth: OAuthService
) -> None:
    """Add the console's pages, static files and middleware to the admin app (sessions where the
    façade's shared state is: memory, or Redis). With an identity provider (`oauth.oidc`), operators
    in GMCP_FACADE_CONSOLE_ALLOWED_* can also sign in there (idp.py: sign-ins in progress on the
    grant store, session tokens minted on `tokens`, revoked at sign-out and when the session
    expires: found on its next use or by the periodic sweep)."""
    app[SESSIONS_KEY] = console_sessions = open_console_sessions(settings)
    if oauth.oidc is not None:
        app[IDP_KEY] = idp = ConsoleIdentityProvider(
            oauth.oidc, console_allowed_set(settings), oauth.store, tokens, console_sessions.max_age_s
        )
        # A session that idles out (or grows too old) takes its minted token with it.
        console_sessions.on_expired(idp.revoke)
    app[CLIENT_KEY] = management_client = ManagementClient()
    app[TEMPLATES_KEY] = Templates(HERE / "templates")
    app.on_startup.append(management_client.open)
    app.on_cleanup.append(management_client.close)

    async def sweep_sessions(_: web.Application) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(console_sessions.sweep_every(), name="console-session-sweep")
        yield
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper

    async def close_sessions(_: web.Application) -> None:
        await console_sessions.close()

    app.cleanup_ctx.append(sweep_sessions)
    app.on_cleanup.append(close_sessions)
    app.middlewares.append(console_middleware)
    app.router.add_get(f"{CONSOLE_PREFIX}/static/{{filename}}", static_file)
    views.add_routes(app, CONSOLE_PREFIX)


def open_console_sessions(settings: FacadeSettings) -> ConsoleSessions:
    """Where the façade's shared state is: Redis with GMCP_FACADE_STORE=redis, else memory."""
    if settings.store == "redis":
        if settings.redis_url is None:
            raise ValueError("GMCP_FACADE_REDIS_URL is required when the store is redis")
        from .sessions_redis import RedisConsoleSessions  # redis-py only where Redis is used

        return RedisConsoleSessions(settings.redis_url.get_secret_value(), settings.redis_key_prefix)
    return MemoryConsoleSessions()
