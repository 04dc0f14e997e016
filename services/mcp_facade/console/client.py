"""The console's way to the management API: HTTP to the admin port it is served on.

Every console action is one management API request carrying the signed-in person's own API token, so
the console can do nothing the API cannot, and every check (authentication, account binding, field
validation) is the API's. The request goes to the address the browser's request arrived on, with the
browser's Host header (already accepted by the admin port's Host policy) and no Origin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp import web

__all__ = ["ApiReply", "ManagementClient"]

_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True, slots=True)
class ApiReply:
    """A management API answer: status and decoded JSON body (None for 204 or a non-JSON body)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> str:
        """The error envelope's message (or the status) for showing to the person."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("message") or self.body["error"].get("code"))
        return f"the management API answered HTTP {self.status}"

    @property
    def unknown_route(self) -> bool:
        """aiohttp's own 404 for a route this build does not have."""
        return self.status == 404 and self.error == "no such route"


class ManagementClient:
    """One pooled HTTP client per admin app (opened on startup, closed on cleanup)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self, _: web.Application) -> None:
        self._session = aiohttp.ClientSession(timeout=_TIMEOUT, auto_decompress=True)

    async def close(self, _: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        request: web.Request,
        method: str,
        path: str,
        token: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> ApiReply:
        """`method path` on the admin port this request came in on, as the holder of `token`."""
        assert self._session is not None, "the console's client is opened on app startup"
        headers = {"Authorization": f"Bearer {token}", "Host": request.host, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        async with self._session.request(
            method, _own_base(request) + path, headers=headers, data=data, params=query
        ) as resp:
            raw = await resp.read()
            try:
                decoded = json.loads(raw) if raw else None
            except ValueError:
                decoded = None
            return ApiReply(resp.status, decoded)

    async def relay(
        self, request: web.Request, path: str, token: str, query: dict[str, str], *, headers: dict[str, str]
    ) -> web.StreamResponse | ApiReply:
        """A streamed GET (an export): the management API's body goes to the browser as it arrives, with
        `headers` and the API's Content-Type and Content-Disposition. An error answer comes back as an
        ApiReply instead, for the console to show."""
        assert self._session is not None, "the console's client is opened on app startup"
        sent = {"Authorization": f"Bearer {token}", "Host": request.host, "Accept": "text/csv"}
        async with self._session.get(_own_base(request) + path, headers=sent, params=query) as resp:
            if not 200 <= resp.status < 300:
                raw = await resp.read()
                try:
                    return ApiReply(resp.status, json.loads(raw) if raw else None)
                except ValueError:
                    return ApiReply(resp.status, None)
            out = web.StreamResponse(status=resp.status, headers=headers)
            for name in ("Content-Type", "Content-Disposition"):
                if name in resp.headers:
                    out.headers[name] = resp.headers[name]
            await out.prepare(request)
            async for chunk in resp.content.iter_chunked(64 * 1024):
                await out.write(chunk)
            await out.write_eof()
            return out


def _own_base(request: web.Request) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        raise web.HTTPServiceUnavailable(text="the console cannot reach the admin port it is served on")
    host, port = str(sockname[0]), int(sockname[1])
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
