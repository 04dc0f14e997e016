"""TokenResolver: well-formedness, caching, revocation events."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from gumloop_mcp.runtime import TokenKind, generate_token
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.mcp_facade.auth import NotFound, TokenResolver


class Stub:
    """Just ResolveToken, counting calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def ResolveToken(self, request: Any, timeout: float) -> pb.ResolveTokenResponse:
        self.calls += 1
        server = pb.McpServer(id="mcp_1", account_id="a", name="n", config=pb.McpServerConfig(tags=["x"]))
        return pb.ResolveTokenResponse(mcp_server=server)


async def test_malformed_tokens_never_reach_the_service() -> None:
    """A token failing the checksum is NotFound without an RPC."""
    stub = Stub()
    resolver = TokenResolver(stub, ttl_s=30, max_size=10, deadline_s=1)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await resolver.resolve("gmcp_" + "a" * 43 + "_abcdef")
    assert stub.calls == 0


async def test_revocation_events_drop_cached_records() -> None:
    """Resolutions are cached; DELETED for the record, or a (re)connect, forgets them."""
    stub = Stub()
    resolver = TokenResolver(stub, ttl_s=30, max_size=10, deadline_s=1)  # type: ignore[arg-type]
    token = generate_token(TokenKind.MCP_URL)
    resolved = await resolver.resolve(token)
    assert resolved.scope.tags == ("x",)
    await resolver.resolve(token)
    assert stub.calls == 1
    resolver._apply(pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_UPDATED, mcp_server_id="other"))
    await resolver.resolve(token)
    assert stub.calls == 1
    resolver._apply(pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_DELETED, mcp_server_id="mcp_1"))
    await resolver.resolve(token)
    assert stub.calls == 2
    resolver._apply(pb.WatchRevocationsResponse())  # the first message of a (re)connected watch
    assert resolver.watch_live.is_set()
    await resolver.resolve(token)
    assert stub.calls == 3


class FlakyWatch:
    """WatchRevocations fails once with UNAVAILABLE, then streams the live marker and waits."""

    def __init__(self) -> None:
        self.attempts = 0

    def WatchRevocations(self, request: Any) -> Any:
        self.attempts += 1
        attempt = self.attempts

        async def stream() -> Any:
            if attempt == 1:
                raise grpc.aio.AioRpcError(
                    grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata()
                )
            yield pb.WatchRevocationsResponse()
            await asyncio.Event().wait()

        return stream()


async def test_watch_reconnects_after_a_failure_and_clears_the_cache() -> None:
    """A broken watch is retried with backoff; the reconnect marks it live and drops cached records."""
    stub = FlakyWatch()
    resolver = TokenResolver(stub, ttl_s=30, max_size=10, deadline_s=1)  # type: ignore[arg-type]
    resolver._cache["k"] = (1e18, None)  # type: ignore[assignment]
    resolver.start()
    try:
        await asyncio.wait_for(resolver.watch_live.wait(), 5)
    finally:
        await resolver.stop()
    assert stub.attempts == 2
    assert "k" not in resolver._cache
