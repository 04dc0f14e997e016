"""TokenResolver: well-formedness, caching, revocation events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from gumloop_mcp.runtime import TokenKind, generate_token
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.mcp_facade.contracts import ServerScope
from services.mcp_facade.transport.auth import NotFound, TokenResolver


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


class VerifyStub:
    """VerifyApiToken that can be held mid-call; counts calls; the token may carry an expiry."""

    def __init__(self, expire_in_s: float | None = None) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.hold = False
        self.expire_in_s = expire_in_s

    async def VerifyApiToken(self, request: Any, timeout: float) -> pb.VerifyApiTokenResponse:
        self.calls += 1
        self.entered.set()
        if self.hold:
            await self.release.wait()
        token = pb.ApiToken(id="apit_1")
        if self.expire_in_s is not None:
            token.expire_time.FromSeconds(int(time.time() + self.expire_in_s))
        return pb.VerifyApiTokenResponse(api_token=token)


SCOPE = ServerScope(server_id="mcp_1", account_id="a", name="n", methods=(), tags=())


async def test_an_api_token_revoked_while_it_was_being_verified_is_not_cached() -> None:
    """A revocation seen during the VerifyApiToken call means the next request asks the service again."""
    stub = VerifyStub()
    resolver = TokenResolver(stub, ttl_s=30, max_size=10, deadline_s=1)  # type: ignore[arg-type]
    header = f"Bearer {generate_token(TokenKind.API)}"
    stub.hold = True
    verifying = asyncio.create_task(resolver.verify_api_token(header, SCOPE.account_id))
    await asyncio.wait_for(stub.entered.wait(), 5)
    revoked = pb.WatchRevocationsResponse(kind=pb.REVOCATION_KIND_API_TOKEN_REVOKED, api_token_id="apit_1")
    resolver._apply(revoked)
    stub.release.set()
    await verifying
    stub.hold = False
    await resolver.verify_api_token(header, SCOPE.account_id)
    assert stub.calls == 2


async def test_a_cached_api_token_is_never_trusted_past_its_own_expiry() -> None:
    """A token expiring sooner than the cache TTL is verified again once it has expired."""
    stub = VerifyStub(expire_in_s=-1)
    resolver = TokenResolver(stub, ttl_s=30, max_size=10, deadline_s=1)  # type: ignore[arg-type]
    header = f"Bearer {generate_token(TokenKind.API)}"
    await resolver.verify_api_token(header, SCOPE.account_id)
    await resolver.verify_api_token(header, SCOPE.account_id)
    assert stub.calls == 2


class ExpiringStub:
    """ResolveToken for a record that expires `expire_in_s` from now (record or token expiry)."""

    def __init__(self, expire_in_s: float, *, on_token: bool) -> None:
        self.expire_in_s = expire_in_s
        self.on_token = on_token

    async def ResolveToken(self, request: Any, timeout: float) -> pb.ResolveTokenResponse:
        server = pb.McpServer(id="mcp_1", account_id="a", name="n")
        reply = pb.ResolveTokenResponse(mcp_server=server)
        when = reply.token_expire_time if self.on_token else reply.mcp_server.expire_time
        when.FromSeconds(int(time.time() + self.expire_in_s))
        return reply


@pytest.fixture
def east_of_utc(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The process runs in Asia/Tokyo (UTC+9) for the test, restored afterwards."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("on_token", [False, True], ids=["record_expiry", "token_expiry"])
async def test_expiry_is_read_as_utc_whatever_the_local_time_zone(east_of_utc: Any, on_token: bool) -> None:
    """East of UTC a server expiring in 2 h is still valid on a cache hit (naive datetimes read as local)."""
    resolver = TokenResolver(
        ExpiringStub(7200, on_token=on_token),  # type: ignore[arg-type]
        ttl_s=30,
        max_size=10,
        deadline_s=1,
    )
    token = generate_token(TokenKind.MCP_URL)
    resolved = await resolver.resolve(token)
    assert abs(resolved.token_expires_at - (time.time() + 7200)) < 5
    assert (await resolver.resolve(token)).scope.server_id == "mcp_1"  # the cache hit checks the expiry
