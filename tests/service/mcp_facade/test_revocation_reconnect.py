"""The revocation watch against a real gRPC server: the server's planned connection recycling (max
connection age) is an INFO and an immediate reconnect; a server that goes away is a WARNING."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc
from services.mcp_facade.transport.auth import TokenResolver
from tests.fakes.token_service import FakeTokens

AUTH_LOGGER = "services.mcp_facade.transport.auth"
PLANNED = "revocation watch: the token service recycled the connection; reconnecting"
BROKEN = "revocation watch broken (UNAVAILABLE); reconnecting"


@asynccontextmanager
async def _watching(
    options: Sequence[tuple[str, Any]],
) -> AsyncIterator[tuple[grpc.aio.Server, TokenResolver]]:
    """FakeTokens on a loopback gRPC server with `options`, and a resolver whose watch is live."""
    server = grpc.aio.server(options=options)
    pb_grpc.add_TokenServiceServicer_to_server(FakeTokens(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        resolver = TokenResolver(pb_grpc.TokenServiceStub(channel), ttl_s=60, max_size=10, deadline_s=5)
        resolver.start()
        try:
            await asyncio.wait_for(resolver.watch_live.wait(), 10)
            yield server, resolver
        finally:
            await resolver.stop()
            await server.stop(0)


async def _until_logged(
    caplog: pytest.LogCaptureFixture, message: str, timeout_s: float = 10
) -> logging.LogRecord:
    async with asyncio.timeout(timeout_s):
        while True:
            for record in caplog.records:
                if record.name == AUTH_LOGGER and record.getMessage() == message:
                    return record
            await asyncio.sleep(0.02)


async def test_the_servers_max_connection_age_is_a_planned_reconnect_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=AUTH_LOGGER)
    options = [("grpc.max_connection_age_ms", 300), ("grpc.max_connection_age_grace_ms", 100)]
    async with _watching(options) as (_, resolver):
        resolver.watch_live.clear()
        record = await _until_logged(caplog, PLANNED)
        assert record.levelno == logging.INFO
        await asyncio.wait_for(resolver.watch_live.wait(), 10)  # connected again
    auth_records = [r for r in caplog.records if r.name == AUTH_LOGGER]
    assert not [r for r in auth_records if r.levelno >= logging.WARNING], [
        r.getMessage() for r in auth_records
    ]


async def test_a_server_that_goes_away_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=AUTH_LOGGER)
    async with _watching([]) as (server, _):
        await server.stop(0)
        record = await _until_logged(caplog, BROKEN)
        assert record.levelno == logging.WARNING
    assert not [r for r in caplog.records if r.getMessage() == PLANNED]
