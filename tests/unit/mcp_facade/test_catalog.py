"""The catalog cache: one fetch per TTL, stale copies on failure, clear errors with none."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.mcp_facade.tools.catalog import CatalogCache, CatalogUnavailableError


class Proxy:
    def __init__(self) -> None:
        self.calls = 0
        self.down = False
        self.version = "v1"

    async def ListOperations(self, request: Any, timeout: float | None = None) -> pb.ListOperationsResponse:  # noqa: N802
        self.calls += 1
        if self.down:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down"
            )
        ops = [
            pb.Operation(
                name="list_teams", kind=pb.OPERATION_KIND_LIST, resource="team", resource_plural="teams"
            )
        ]
        if self.version == "v2":
            ops.append(pb.Operation(name="get_team", kind=pb.OPERATION_KIND_GET, resource="team"))
        return pb.ListOperationsResponse(operations=ops, catalog_version=self.version)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_fetches_once_per_ttl_and_picks_up_a_new_version() -> None:
    """Within the TTL no refetch; after it the new catalog is served."""
    proxy, clock = Proxy(), Clock()
    cache = CatalogCache(proxy, 120, ttl_s=60, clock=clock)
    assert list(await cache.tools()) == ["list_all_gumloop_teams"]
    await cache.tools()
    assert proxy.calls == 1 and cache.version == "v1"
    proxy.version = "v2"
    clock.now = 61
    assert list(await cache.tools()) == ["list_all_gumloop_teams", "get_single_gumloop_team_by_id"]
    assert cache.version == "v2"


async def test_a_failed_refresh_serves_the_stale_catalog() -> None:
    """The proxy going away later does not take the tools with it."""
    proxy, clock = Proxy(), Clock()
    cache = CatalogCache(proxy, 120, ttl_s=60, clock=clock)
    await cache.tools()
    proxy.down = True
    clock.now = 100
    assert list(await cache.tools()) == ["list_all_gumloop_teams"]


async def test_no_catalog_is_a_clear_error_and_retried_after_a_pause() -> None:
    """Without any copy: CatalogUnavailableError; retries are spaced, then succeed."""
    proxy, clock = Proxy(), Clock()
    proxy.down = True
    cache = CatalogCache(proxy, 120, clock=clock)
    with pytest.raises(CatalogUnavailableError, match="unavailable"):
        await cache.tools()
    with pytest.raises(CatalogUnavailableError):
        await cache.tools()
    assert proxy.calls == 1
    proxy.down = False
    clock.now = 5
    assert await cache.tools()
