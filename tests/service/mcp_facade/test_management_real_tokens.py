"""The management API over the REAL token service (SQLite on tmp_path) and a real façade.

A small fake proxy answers the catalog and account lookups the token service makes; the façade's
tool layer is the FakeToolbox (the MCP URL only has to initialize). What is proved here needs the
real token service: a rotation's grace period keeps the old URL working until its end and not
after, and the token service's refusals reach the REST caller with the minimum / valid values named.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as ppb_grpc
from gumloop_mcp.runtime import create_channel
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as tpb
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as tpb_grpc
from services.mcp_facade.backends import Backends
from services.mcp_facade.server import FacadeServer
from services.mcp_facade.server import create_server as create_facade
from services.mcp_facade.settings import FacadeSettings
from services.tokens.server import TokenServer
from services.tokens.server import create_server as create_tokens
from services.tokens.settings import TokenSettings

from .conftest import FakeToolbox

ACCOUNT = "acct_real"
_K = ppb.OperationKind
OPERATIONS = [
    ppb.Operation(name="list_agents", kind=_K.OPERATION_KIND_LIST, resource="agent", tags=["agents"]),
    ppb.Operation(name="start_pipeline", kind=_K.OPERATION_KIND_CUSTOM, resource="pipeline", tags=["flows"]),
]
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


class CatalogProxy(ppb_grpc.ProxyServiceServicer):
    """The catalog and the one account the token service asks about."""

    async def ListOperations(self, request: Any, context: Any) -> ppb.ListOperationsResponse:
        return ppb.ListOperationsResponse(operations=OPERATIONS, catalog_version="v1")

    async def GetIntegratedAccount(self, request: Any, context: Any) -> ppb.GetIntegratedAccountResponse:
        if request.account_id != ACCOUNT:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such account")
        return ppb.GetIntegratedAccountResponse(account=ppb.IntegratedAccount(id=ACCOUNT))


@dataclass
class RealStack:
    tokens: TokenServer
    facade: FacadeServer
    auth: dict[str, str]

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.facade.admin_port}"

    def public(self, url: str) -> str:
        """A minted URL on the port actually bound (settings say port 0)."""
        return url.replace("http://127.0.0.1:0/", f"http://127.0.0.1:{self.facade.public_port}/")


@pytest.fixture
async def real(tmp_path: Path) -> AsyncIterator[RealStack]:
    """Token service (SQLite) + fake proxy + façade, all on 127.0.0.1:0, and a management token."""
    proxy_server = grpc.aio.server()
    ppb_grpc.add_ProxyServiceServicer_to_server(CatalogProxy(), proxy_server)
    proxy_port = proxy_server.add_insecure_port("127.0.0.1:0")
    await proxy_server.start()
    tokens = await create_tokens(
        TokenSettings(
            grpc_port=0,
            pepper="real-stack-pepper-0123456789",
            proxy_target=f"127.0.0.1:{proxy_port}",
            store="sqlite",
            data_dir=tmp_path,
        )
    )
    await tokens.start()
    tokens_channel = create_channel(f"127.0.0.1:{tokens.port}")
    proxy_channel = create_channel(f"127.0.0.1:{proxy_port}")
    backends = Backends(tpb_grpc.TokenServiceStub(tokens_channel), ppb_grpc.ProxyServiceStub(proxy_channel))
    minted = await backends.tokens.CreateApiToken(
        tpb.CreateApiTokenRequest(
            api_token=tpb.ApiToken(name="admin", purposes=[tpb.API_TOKEN_PURPOSE_MANAGEMENT])
        )
    )
    facade = await create_facade(
        FacadeSettings(port=0, admin_port=0, session_secret="real-stack-secret", token_cache_ttl_s=30),
        backends=backends,
        toolbox=FakeToolbox(),
    )
    await asyncio.wait_for(facade.resolver.watch_live.wait(), 5)
    try:
        yield RealStack(tokens, facade, {"Authorization": f"Bearer {minted.token}"})
    finally:
        await facade.close()
        await tokens_channel.close()
        await proxy_channel.close()
        await tokens.stop(0)
        await proxy_server.stop(None)


async def _initialize_status(http: aiohttp.ClientSession, url: str) -> int:
    async with http.post(url, json=INIT, headers=ACCEPT) as resp:
        return resp.status


async def test_rotation_grace_keeps_the_old_url_until_its_end_and_not_after(real: RealStack) -> None:
    """grace_period_seconds=1: old and new URL both initialize; the old one is 404 once the grace ended."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{real.admin}/integrated-account/{ACCOUNT}/mcp", json={"name": "rotating"}, headers=real.auth
        ) as resp:
            assert resp.status == 201, await resp.text()
            created = await resp.json()
        old_url = real.public(created["url"])
        assert await _initialize_status(http, old_url) == 200  # cached by the façade from here on
        path = f"{real.admin}/integrated-account/{ACCOUNT}/mcp/{created['id']}/rotate"
        async with http.post(path, json={"grace_period_seconds": 1}, headers=real.auth) as resp:
            assert resp.status == 200, await resp.text()
            rotated = await resp.json()
        grace_end = datetime.fromisoformat(rotated["old_url_expires_at"]).timestamp()
        assert 0 < grace_end - time.time() <= 1.05
        new_url = real.public(rotated["url"])
        assert new_url != old_url
        assert await _initialize_status(http, new_url) == 200
        assert await _initialize_status(http, old_url) == 200  # within the grace
        deadline = time.monotonic() + 5
        while (status := await _initialize_status(http, old_url)) == 200:
            assert time.time() < grace_end + 0.5, "the old URL outlived its grace"
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert status == 404 and time.time() >= grace_end
        assert await _initialize_status(http, new_url) == 200


async def test_rotation_without_a_body_ends_the_old_url_at_once(real: RealStack) -> None:
    """No body means no grace: the old URL is 404 right after the rotation."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{real.admin}/integrated-account/{ACCOUNT}/mcp", json={"name": "r"}, headers=real.auth
        ) as resp:
            created = await resp.json()
        assert await _initialize_status(http, real.public(created["url"])) == 200
        path = f"{real.admin}/integrated-account/{ACCOUNT}/mcp/{created['id']}/rotate"
        async with http.post(path, headers=real.auth) as resp:
            assert resp.status == 200
            rotated = await resp.json()
        assert await _initialize_status(http, real.public(created["url"])) == 404
        assert await _initialize_status(http, real.public(rotated["url"])) == 200


async def test_a_too_soon_expiry_is_a_400_naming_the_minimum(real: RealStack) -> None:
    """expires_at 30 s ahead and in the past: 400 on expires_at, the message naming the 60 s minimum."""
    async with aiohttp.ClientSession() as http:
        for when in (datetime.now(UTC) + timedelta(seconds=30), datetime.now(UTC) - timedelta(hours=1)):
            body = {"name": "soon", "expires_at": when.isoformat()}
            async with http.post(
                f"{real.admin}/integrated-account/{ACCOUNT}/mcp", json=body, headers=real.auth
            ) as resp:
                error = (await resp.json())["error"]
            assert resp.status == 400
            assert [f["field"] for f in error["fields"]] == ["expires_at"]
            assert "at least 60 s ahead" in error["message"] and error["message"].startswith("expires_at: ")


async def test_unknown_scope_values_are_a_400_naming_the_valid_ones(real: RealStack) -> None:
    """An unknown method and tag: the 400 lists the groups, the operation names and the tags."""
    body = {"name": "s", "config": {"methods": ["frobnicate"], "tags": ["nope"]}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{real.admin}/integrated-account/{ACCOUNT}/mcp", json=body, headers=real.auth) as resp,
    ):
        error = (await resp.json())["error"]
    assert resp.status == 400
    assert [f["field"] for f in error["fields"]] == [
        "config.methods",
        "config.tags",
        "config.methods[0]",
        "config.tags[0]",
    ]
    message = error["message"]
    for valid in ("read, write, custom", "list_agents", "start_pipeline", "agents, flows"):
        assert valid in message, valid


async def test_the_catalog_lists_what_a_scope_accepts(real: RealStack) -> None:
    """GET /catalog: method groups, tags, and each operation with tool name, group, tags and one line."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{real.admin}/catalog", headers=real.auth) as resp,
    ):
        catalog = await resp.json()
    assert resp.status == 200
    assert catalog["method_groups"] == {
        "read": ["get", "list"],
        "write": ["create", "delete", "update"],
        "custom": ["custom"],
    }
    assert catalog["tags"] == ["agents", "flows"] and catalog["catalog_version"] == "v1"
    by_name = {op["name"]: op for op in catalog["operations"]}
    assert by_name["list_agents"]["tool_name"] == "list_all_gumloop_agents"
    assert by_name["list_agents"]["kind"] == "read" and by_name["list_agents"]["operation_kind"] == "list"
    assert by_name["start_pipeline"]["kind"] == "custom"
    assert by_name["start_pipeline"]["tool_name"] == "gumloop_start_pipeline"


async def test_a_scope_of_many_unknown_values_is_a_bounded_400_not_a_500(real: RealStack) -> None:
    """200 long unknown methods: the token service reports a bounded list (gRPC trailers stay under
    their 8 KiB limit), so the caller gets a 400 with the first problems, not a transport error."""
    body = {"name": "s", "config": {"methods": [f"m{i:03d}" + "x" * 120 for i in range(200)]}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{real.admin}/integrated-account/{ACCOUNT}/mcp", json=body, headers=real.auth) as resp,
    ):
        error = (await resp.json())["error"]
    assert resp.status == 400
    fields = [f["field"] for f in error["fields"]]
    assert fields[:10] == ["config.methods"] + [f"config.methods[{i}]" for i in range(9)]
    assert "list_agents" in error["fields"][0]["description"]
    assert fields[-1] == "request" and "more problems" in error["fields"][-1]["description"]


async def test_tool_exposure_and_budget_round_trip_through_the_api(real: RealStack) -> None:
    """POST stores config.tool_exposure and context_budget_tokens in the token service, GET returns
    them, PATCH of config replaces them (left out: back to "default"/0); bad values are 400s."""
    base = f"{real.admin}/integrated-account/{ACCOUNT}/mcp"
    body = {
        "name": "auto",
        "config": {"methods": ["read"], "tool_exposure": "auto", "context_budget_tokens": 4000},
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(base, json=body, headers=real.auth) as resp:
            created = await resp.json()
        assert resp.status == 201, created
        assert (
            created["config"]["tool_exposure"] == "auto"
            and created["config"]["context_budget_tokens"] == 4000
        )
        stored = await real.facade.backends.tokens.GetMcpServer(tpb.GetMcpServerRequest(id=created["id"]))
        assert (stored.mcp_server.config.tool_exposure, stored.mcp_server.config.context_budget_tokens) == (
            "auto",
            4000,
        )
        async with http.get(f"{base}/{created['id']}", headers=real.auth) as resp:
            assert (await resp.json())["config"] == created["config"]
        patch = {"config": {"methods": ["read"], "tool_exposure": "discovery"}}
        async with http.patch(f"{base}/{created['id']}", json=patch, headers=real.auth) as resp:
            patched = await resp.json()
        assert resp.status == 200, patched
        assert (
            patched["config"]["tool_exposure"] == "discovery"
            and patched["config"]["context_budget_tokens"] == 0
        )
        async with http.patch(f"{base}/{created['id']}", json={"config": {}}, headers=real.auth) as resp:
            assert (await resp.json())["config"]["tool_exposure"] == "default"
        for config, field in (
            ({"tool_exposure": "everything"}, "config.tool_exposure"),
            ({"context_budget_tokens": 10}, "config.context_budget_tokens"),
            ({"context_budget_tokens": "4000"}, "config.context_budget_tokens"),
        ):
            async with http.post(base, json={"name": "bad", "config": config}, headers=real.auth) as resp:
                error = (await resp.json())["error"]
            assert resp.status == 400, config
            assert field in [f["field"] for f in error["fields"]], error
