"""TokenResolver: well-formedness, caching, revocation events."""

from __future__ import annotations

from typing import Any

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
