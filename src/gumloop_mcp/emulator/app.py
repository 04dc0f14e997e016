"""The aiohttp application: middlewares (faults, request log, auth, error envelope), control endpoints,
signed file downloads, and ``start_emulator`` to run it on a port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator import (
    routes_agent_extras,
    routes_agent_triggers,
    routes_agents,
    routes_approvals,
    routes_artifact_extras,
    routes_brain,
    routes_browser_profiles,
    routes_inference,
    routes_item_access,
    routes_legacy,
    routes_mcp,
    routes_mcp_accounts,
    routes_misc,
    routes_oauth,
    routes_org,
    routes_session_extras,
    routes_sessions,
    routes_skill_sync,
    routes_skills,
    signing,
    streaming,
)
from gumloop_mcp.emulator.auth import authenticate
from gumloop_mcp.emulator.clock import Clock
from gumloop_mcp.emulator.context import EMU, Emulator, json_body
from gumloop_mcp.emulator.errors import ApiError, Form
from gumloop_mcp.emulator.settings import EmulatorSettings

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LEGACY = {
    "/start_pipeline",
    "/get_pl_run",
    "/kill_pipeline",
    "/list_saved_items",
    "/list_workbooks",
    "/get_inputs",
    "/get_plrun_saved_item_map",
    "/upload_file",
    "/upload_files",
    "/download_file",
    "/download_files",
    "/start_agent",
}
# Legacy endpoints with a path parameter: /agent_status/{interaction_id} (gumloop-api.md §1, §2a).
LEGACY_PREFIXES = ("/agent_status/",)
# The legacy agent endpoints answer errors as bare strings; the other older endpoints (flows, files,
# organization) as Gumloop's flat PublicError; the v1 resource API with the nested envelope (errors.py).
BARE_ERRORS = ("/start_agent", "/agent_status/")
FLAT_ERRORS = LEGACY | {
    "/get_audit_logs",
    "/manage_workspace_users",
    "/manage_permission_group_users",
    "/export_data",
    "/export_status",
}
REDACT = {"authorization", "x-auth-key"}


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the request, then apply any matching injected fault before the real handler."""
    e = request.app[EMU]
    record: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": {k: ("[REDACTED]" if k.lower() in REDACT else v) for k, v in request.headers.items()},
        "status": None,
    }
    if not request.path.startswith("/__emulator"):
        e.requests.append(record)
    fault = None if request.path.startswith("/__emulator") else e.faults.take(request.method, request.path)
    if fault is not None:
        if fault.kind == "latency":
            await asyncio.sleep(fault.latency_ms / 1000)
        elif fault.kind == "reset":
            record["status"] = 0
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("fault injection: connection reset")
        elif fault.kind == "malformed":
            record["status"] = 200
            return web.Response(status=200, body=b'{"truncated": [1, 2', content_type="application/json")
        elif fault.kind == "status":
            record["status"] = fault.status
            body = (
                fault.body
                if fault.body is not None
                else {
                    "error": {
                        "code": "injected_fault",
                        "message": f"injected HTTP {fault.status}",
                        "type": "api_error",
                        "param": None,
                        "details": {},
                    }
                }
            )
            return web.json_response(body, status=fault.status, headers=fault.headers)
    response = await handler(request)
    record["status"] = response.status
    if fault is not None and fault.headers:
        response.headers.update(fault.headers)
    return response


def form_for(path: str) -> Form:
    """How errors of the endpoint at ``path`` are answered (errors.py)."""
    for prefix in ("/api/v1", "/ws/api/v1"):
        if path.startswith(prefix + "/"):
            route = path[len(prefix) :]
            if route.startswith(BARE_ERRORS):
                return "bare"
            if route in FLAT_ERRORS:
                return "flat"
    return "envelope"


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate Gumloop routes and answer every ApiError in its endpoint family's form."""
    try:
        return await _authenticated(request, handler)
    except ApiError as err:
        return err.response(form_for(request.path))


async def _authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        path = request.path
        for prefix in ("/api/v1", "/ws/api/v1"):
            if path.startswith(prefix + "/"):
                route = path[len(prefix) :]
                legacy = route in LEGACY or route.startswith(LEGACY_PREFIXES)
                e = request.app[EMU]
                authenticate(request, e.settings, legacy=legacy, oauth=e.oauth, now=e.clock.now())
                break
        return await handler(request)
    except web.HTTPNotFound as exc:
        raise ApiError(404, "not_found", f"no route for {request.method} {request.path}") from exc
    except web.HTTPMethodNotAllowed as exc:
        raise ApiError(405, "method_not_allowed", f"{request.method} not allowed on {request.path}") from exc


routes = web.RouteTableDef()


@routes.get("/__emulator/health")
async def health(request: web.Request) -> web.Response:
    """Liveness."""
    return web.json_response({"status": "ok"})


@routes.post("/__emulator/reset")
async def reset(request: web.Request) -> web.Response:
    """Reseed state and clear faults."""
    request.app[EMU].reset()
    return web.json_response({"status": "ok"})


@routes.post("/__emulator/faults")
async def add_fault(request: web.Request) -> web.Response:
    """Install a fault rule."""
    try:
        fault = request.app[EMU].faults.add(await json_body(request))
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from exc
    return web.json_response({"status": "ok", "kind": fault.kind, "count": fault.count}, status=201)


@routes.delete("/__emulator/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Remove every fault rule."""
    request.app[EMU].faults.clear()
    return web.json_response({"status": "ok"})


@routes.get("/__emulator/requests")
async def recorded(request: web.Request) -> web.Response:
    """The recorded requests, credentials redacted."""
    return web.json_response({"requests": request.app[EMU].requests})


@routes.post("/__emulator/clock/advance")
async def advance(request: web.Request) -> web.Response:
    """Move emulated time forward by ``seconds``."""
    body = await json_body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        raise ApiError(400, "invalid_request", "seconds must be a non-negative number", param="seconds")
    e = request.app[EMU]
    e.clock.advance(float(seconds))
    return web.json_response({"now": e.now()})


@routes.get("/__files/{blob_id}/{filename}")
async def download(request: web.Request) -> web.Response:
    """Serve a blob when its signed link is valid and unexpired; 403 otherwise."""
    e = request.app[EMU]
    blob = e.store.blobs.get(request.match_info["blob_id"])
    path = signing.file_path(request.match_info["blob_id"], request.match_info["filename"])
    problem = signing.verify(
        e.settings.signing_key,
        path,
        request.query.get("expires"),
        request.query.get("sig"),
        now=e.clock.now(),
    )
    if problem is not None:
        raise ApiError(
            403, "signature_invalid", f"Download link rejected: {problem}", type_="permission_error"
        )
    if blob is None:
        raise ApiError(404, "not_found", "file not found")
    return web.Response(
        body=blob.data,
        content_type=blob.media_type,
        headers={"Content-Disposition": f'attachment; filename="{blob.filename}"'},
    )


def create_app(
    settings: EmulatorSettings | None = None, clock: Callable[[], float] | None = None
) -> web.Application:
    """The emulator as an aiohttp application (for in-process tests)."""
    settings = settings or EmulatorSettings()
    app = web.Application(
        middlewares=[fault_middleware, api_middleware], client_max_size=settings.max_skill_bytes * 2
    )
    app[EMU] = Emulator(settings, Clock(clock))
    app.add_routes(routes)
    for module in (
        routes_legacy,
        routes_agent_extras,
        routes_agents,
        routes_agent_triggers,
        routes_sessions,
        routes_approvals,
        routes_skills,
        routes_mcp,
        routes_misc,
        streaming,
        routes_session_extras,
        routes_item_access,
        routes_artifact_extras,
        routes_skill_sync,
        routes_mcp_accounts,
        routes_brain,
        routes_inference,
        routes_org,
        routes_browser_profiles,
        routes_oauth,
    ):
        app.add_routes(module.routes)
    return app


class RunningEmulator:
    """An emulator serving on a port; ``async with`` closes it."""

    def __init__(self, runner: web.AppRunner, settings: EmulatorSettings, port: int) -> None:
        self._runner = runner
        self.port = port
        host = settings.host if settings.host not in {"0.0.0.0", "::", ""} else "127.0.0.1"  # noqa: S104
        self.base_url = f"http://{host}:{port}"
        self.api_base_url = self.base_url + "/api/v1"
        self.stream_base_url = self.base_url + "/ws/api/v1"
        self.api_key = settings.api_key
        self.user_id = settings.user_id
        self.settings = settings
        self.app = runner.app

    async def close(self) -> None:
        """Stop serving."""
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningEmulator:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def start_emulator(
    settings: EmulatorSettings | None = None, *, clock: Callable[[], float] | None = None
) -> RunningEmulator:
    """Start the emulator on ``settings.host``/``settings.port`` (0 = a free port)."""
    settings = settings or EmulatorSettings()
    runner = web.AppRunner(create_app(settings, clock), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    port = settings.port
    for sock in getattr(site._server, "sockets", None) or []:
        port = int(sock.getsockname()[1])
        break
    logger.info("emulator serving on %s:%s", settings.host, port)
    return RunningEmulator(runner, settings, port)
