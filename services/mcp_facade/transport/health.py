"""Liveness and readiness endpoints, mounted on both the public and the admin port.

/healthz: the process serves HTTP. /readyz: not shutting down, and each backend
channel reaches READY within a second (503 with per-backend detail otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..state.backends import Backends

__all__ = ["Health"]


@dataclass(slots=True)
class Health:
    """Readiness state shared by both apps."""

    backends: Backends | None
    shutting_down: bool = False

    async def healthz(self, request: web.Request) -> web.Response:
        """GET /healthz."""
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """GET /readyz."""
        if self.shutting_down:
            return web.json_response({"status": "shutting_down"}, status=503)
        checks = await self.backends.wait_ready(1.0) if self.backends is not None else {}
        ok = all(checks.values())
        return web.json_response(
            {"status": "ok" if ok else "unavailable", "backends": checks}, status=200 if ok else 503
        )

    def add_routes(self, app: web.Application) -> None:
        """Mount /healthz and /readyz."""
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
