"""Infrastructure for proxy service tests: the real emulator, the real proxy on loopback, an account,
and FakeGumloop (a loopback stand-in for the few routes a test needs to misbehave precisely)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web

from gumloop_mcp.emulator import EmulatorSettings, start_emulator
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from services.gumloop_proxy.server import ProxyServer, create_server
from services.gumloop_proxy.settings import ProxySettings


@pytest.fixture
async def emulator() -> AsyncIterator[Any]:
    """The bundled Gumloop emulator on a free loopback port, fast clock."""
    running = await start_emulator(EmulatorSettings(host="127.0.0.1", port=0, time_scale=0.01))
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
def proxy_settings(tmp_path: Path) -> ProxySettings:
    """Proxy settings: loopback, free port, SQLite store in a temporary directory."""
    return ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path, store="sqlite", log_json=False)


@pytest.fixture
async def proxy(proxy_settings: ProxySettings) -> AsyncIterator[ProxyServer]:
    """The real proxy gRPC server, started."""
    server = await create_server(proxy_settings)
    async with server:
        yield server


@pytest.fixture
async def stub(proxy: ProxyServer) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    """A client stub on a channel to the proxy."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
        yield pb_grpc.ProxyServiceStub(channel)


async def create_account(
    stub: pb_grpc.ProxyServiceStub, emulator: Any, *, secret: str | None = None, **fields: Any
) -> pb.IntegratedAccount:
    """Connect the emulator's account (or one with another secret) through the proxy."""
    account = pb.IntegratedAccount(
        display_name="emulator",
        user_id=emulator.user_id,
        api_base_url=emulator.api_base_url,
        stream_base_url=emulator.stream_base_url,
        **fields,
    )
    response = await stub.CreateIntegratedAccount(
        pb.CreateIntegratedAccountRequest(
            account=account,
            credential=pb.Credential(kind=pb.CREDENTIAL_KIND_API_KEY, secret=secret or emulator.api_key),
        ),
        timeout=10,
    )
    return response.account


@pytest.fixture
async def account(stub: pb_grpc.ProxyServiceStub, emulator: Any) -> pb.IntegratedAccount:
    """An account holding the emulator's API key."""
    return await create_account(stub, emulator)


async def invoke(
    stub: pb_grpc.ProxyServiceStub,
    account_id: str,
    operation: str,
    arguments: dict[str, Any] | None = None,
    *,
    timeout: float = 15,
    **kw: Any,
) -> tuple[pb.InvokeOperationResponse, Any]:
    """InvokeOperation with JSON arguments; returns the response and its parsed JSON body (or None)."""
    response = await stub.InvokeOperation(
        pb.InvokeOperationRequest(
            account_id=account_id, operation=operation, arguments_json=json.dumps(arguments or {}), **kw
        ),
        timeout=timeout,
    )
    return response, (json.loads(response.body_json) if response.body_json else None)


class FakeGumloop:
    """A loopback HTTP server answering the few Gumloop routes these tests use."""

    def __init__(self) -> None:
        self.base_url = ""
        self.downloaded = asyncio.Event()
        self.stream_opened = asyncio.Event()
        self.release_stream = asyncio.Event()
        # The artifact file GET /artifacts/{id}/download links to.
        self.file_body = b""
        # What POST /chat/completions answers: (content type, body).
        self.chat_reply: tuple[str, bytes] = ("text/event-stream", b"data: [DONE]\n\n")
        self._runner: web.AppRunner | None = None
        # Every request that reached it (method and path with query), in order.
        self.seen: list[str] = []

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.seen.append(f"{request.method} {request.path_qs}")
        response: web.StreamResponse = await handler(request)
        return response

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/api/v1/artifacts/{artifact_id}/download", self._artifact)
        app.router.add_get("/files/big.csv", self._file)
        app.router.add_get("/api/v1/teams", self._teams)
        app.router.add_get("/api/v1/sessions/{session_id}", self._session_stream)
        app.router.add_post("/api/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self.release_stream.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _artifact(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "download_url": f"{self.base_url}/files/big.csv",
                "filename": "big.csv",
                "media_type": "text/csv",
                "size": len(self.file_body),
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.file_body, content_type="text/csv")
        self.downloaded.set()
        return response

    async def _teams(self, request: web.Request) -> web.Response:
        return web.json_response({"teams": [{"id": "team_1", "name": "Team"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        content_type, body = self.chat_reply
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _session_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'event: message\ndata: {"type": "hello"}\n\n')
        self.stream_opened.set()
        await self.release_stream.wait()
        await response.write(b'event: finish\ndata: {"final": true}\n\n')
        return response


@pytest.fixture
async def gumloop() -> AsyncIterator[FakeGumloop]:
    fake = FakeGumloop()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


async def create_fake_account(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop, **fields: Any
) -> pb.IntegratedAccount:
    response = await stub.CreateIntegratedAccount(
        pb.CreateIntegratedAccountRequest(
            account=pb.IntegratedAccount(
                display_name="fake",
                user_id="user_1",
                api_base_url=f"{gumloop.base_url}/api/v1",
                stream_base_url=f"{gumloop.base_url}/api/v1",
                **fields,
            ),
            credential=pb.Credential(kind=pb.CREDENTIAL_KIND_API_KEY, secret="gl-fake-key"),
        ),
        timeout=10,
    )
    return response.account
