"""A capturing stand-in for Gumloop on 127.0.0.1: it records every request (method, path, query keys,
body keys, the headers that matter) and answers a canned body, so two clients' requests for the same
operation can be compared."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

# Canned answers the clients need to go on (the SDK's flows poll get_pl_run until DONE; the proxy reads a
# flow's inputs before starting it); everything else gets {}.
CANNED: dict[str, Any] = {
    "/api/v1/get_inputs": {"inputs": [{"name": "week", "data_type": "string", "description": "The week"}]},
    "/api/v1/start_pipeline": {"run_id": "run_1"},
    "/api/v1/get_pl_run": {"run_id": "run_1", "state": "DONE", "outputs": {"output": "ok"}, "log": []},
}


@dataclass
class Captured:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body_keys: set[str]
    body: Any
    headers: dict[str, str]

    def shape(self) -> dict[str, Any]:
        """What a comparison looks at."""
        return {
            "method": self.method,
            "path": self.path,
            "query_keys": sorted(self.query),
            "body_keys": sorted(self.body_keys),
            "authorization": self.headers.get("authorization"),
            "x-auth-key": self.headers.get("x-auth-key"),
            "team_id": (
                "query" if "team_id" in self.query else "",
                "body" if "team_id" in self.body_keys else "",
            ),
        }


class CapturingGumloop:
    """The stand-in; ``requests`` holds what it received, oldest first."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query: dict[str, list[str]] = {}
        for key, value in request.query.items():
            query.setdefault(key, []).append(value)
        body: Any = None
        keys: set[str] = set()
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            keys = set(form.keys())
            body = {k: (v if isinstance(v, str) else "<file>") for k, v in form.items()}
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
            keys = set(body) if isinstance(body, dict) else set()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Captured(request.method, request.path, query, keys, body, headers))
        streaming = query.get("stream") == ["true"] or (isinstance(body, dict) and body.get("stream") is True)
        if streaming:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b'data: {"type": "finish", "final": true}\n\n')
            if request.path.endswith("/chat/completions"):
                await response.write(b"data: [DONE]\n\n")
            return response
        return web.json_response(CANNED.get(request.path, {}))
