"""An unexpected failure inside the token service is INTERNAL with a generic message."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from gumloop_mcp.runtime import TokenKind, generate_token
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as pb_grpc
from services.tokens.servicer import TokenServicer
from services.tokens.settings import TokenSettings

INTERNAL_DETAIL = "sqlite at /var/lib/gmcp/tokens.sqlite3 is corrupt"


class BrokenStore:
    """Every lookup fails the way a bug or a damaged database would."""

    async def get_server(self, server_id: str) -> Any:
        raise RuntimeError(INTERNAL_DETAIL)

    async def resolve(self, token_hash: str, touch_after_s: float) -> Any:
        raise RuntimeError(INTERNAL_DETAIL)


async def test_an_unexpected_error_is_internal_without_its_text(caplog: pytest.LogCaptureFixture) -> None:
    """grpc.aio would send 'Unexpected <class>: <message>' as UNKNOWN; the service says less, logs it."""
    servicer = TokenServicer(
        TokenSettings(),
        BrokenStore(),
        None,
        None,
        b"p" * 32,
        lambda: 0.0,  # type: ignore[arg-type]
    )
    server = grpc.aio.server()
    pb_grpc.add_TokenServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.TokenServiceStub(channel)
            calls = [
                stub.GetMcpServer(pb.GetMcpServerRequest(id="mcp_1"), timeout=5),
                stub.ResolveToken(pb.ResolveTokenRequest(token=generate_token(TokenKind.MCP_URL)), timeout=5),
            ]
            for call in calls:
                with caplog.at_level(logging.ERROR), pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
                assert caught.value.code() == grpc.StatusCode.INTERNAL
                assert INTERNAL_DETAIL not in (caught.value.details() or "")
                assert "RuntimeError" not in (caught.value.details() or "")
    finally:
        await server.stop(0)
    assert INTERNAL_DETAIL in caplog.text
