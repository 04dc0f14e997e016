"""The scope preview (POST /catalog/preview) lists exactly what the toolbox's tools/list shows, against
the real proxy in front of the bundled Gumloop emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from gumloop_mcp.emulator import EmulatorSettings, start_emulator
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.scope import tool_list_tokens
from services.gumloop_proxy.server import create_server
from services.gumloop_proxy.settings import ProxySettings
from services.mcp_facade.console.preview import UnknownScopeError, scope_preview
from services.mcp_facade.contracts import ServerScope
from services.mcp_facade.management.management import _one_line
from services.mcp_facade.management.management_models import McpConfig
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.tools.toolbox import GumloopToolbox


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[ProxyServiceStub]:
    """The real proxy (its catalog is the emulator's Gumloop API)."""
    running = await start_emulator(EmulatorSettings(host="127.0.0.1", port=0, time_scale=0.01))
    try:
        settings = ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path, log_json=False)
        server = await create_server(settings)
        async with (
            server as running_proxy,
            grpc.aio.insecure_channel(f"127.0.0.1:{running_proxy.port}") as channel,
        ):
            yield ProxyServiceStub(channel)
    finally:
        await running.close()


@pytest.mark.parametrize(
    ("methods", "tags"),
    [(["read"], []), (["read"], ["agents"]), (["write"], []), ([], ["agents"]), (["get_agent"], [])],
)
async def test_the_preview_is_what_tools_list_shows(
    proxy: ProxyServiceStub, methods: list[str], tags: list[str]
) -> None:
    """Same tool names in the same order, same estimated tokens as the façade's own tools/list."""
    settings = FacadeSettings(max_wait_seconds=30)  # the wait shapes the schemas: the preview must follow it
    catalog = await proxy.ListOperations(pb.ListOperationsRequest(), timeout=10)
    config = McpConfig(methods=methods, tags=tags, tool_exposure="full")
    preview = scope_preview(list(catalog.operations), catalog.catalog_version, config, settings, _one_line)
    scope = ServerScope("mcp_1", "acct", "n", methods=tuple(methods), tags=tuple(tags), tool_exposure="full")
    listed = await GumloopToolbox(proxy, settings).list_tools(scope)
    assert listed, "every case admits some tools"
    assert [t.name for t in preview.tools] == [t["name"] for t in listed]
    assert preview.tool_list_tokens == tool_list_tokens(listed) == preview.listed_tokens
    assert preview.exposure == "full" and preview.catalog_version == catalog.catalog_version
    if methods == ["read"]:
        assert all(t.kind == "read" and t.description for t in preview.tools)


async def test_auto_above_the_budget_previews_the_discovery_tools(proxy: ProxyServiceStub) -> None:
    """Exposure auto under a small budget: tools/list shows the three meta tools, and so does the preview."""
    settings = FacadeSettings()
    catalog = await proxy.ListOperations(pb.ListOperationsRequest(), timeout=10)
    config = McpConfig(methods=["read"], tool_exposure="auto", context_budget_tokens=500)
    preview = scope_preview(list(catalog.operations), catalog.catalog_version, config, settings, _one_line)
    scope = ServerScope(
        "mcp_1", "acct", "n", methods=("read",), tool_exposure="auto", context_budget_tokens=500
    )
    listed = await GumloopToolbox(proxy, settings).list_tools(scope)
    assert preview.exposure == "discovery" and preview.tool_list_tokens > 500
    assert preview.listed_tokens == tool_list_tokens(listed) and len(listed) == 3


async def test_unknown_methods_and_tags_are_named(proxy: ProxyServiceStub) -> None:
    """A method or tag the catalog does not know is refused with the field and the bad values."""
    catalog = await proxy.ListOperations(pb.ListOperationsRequest(), timeout=10)
    config = McpConfig(methods=["reed"], tags=["nope"])
    with pytest.raises(UnknownScopeError) as caught:
        scope_preview(list(catalog.operations), "v", config, FacadeSettings(), _one_line)
    fields = dict(caught.value.fields)
    assert "'reed'" in fields["methods"] and "'nope'" in fields["tags"]
