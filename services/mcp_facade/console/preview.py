"""The tools a scope would expose, before a server is minted: the management API's
`POST /catalog/preview` (the console's live preview calls it through the same API).

The tools are built exactly as the façade builds them (`catalog.build_tools`, with the wait the
toolbox advertises) and filtered by the shared scope rule, so a preview lists the names and costs
`tools/list` will show for a server of that scope.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as ppb
from gumloop_mcp.scope import METHOD_GROUPS, in_scope, tool_list_tokens, unknown_methods, unknown_tags

from ..management.management_models import McpConfig
from ..settings import FacadeSettings
from ..tools.catalog import build_tools
from ..tools.discovery import META_TOOLS
from ..tools.scope_filter import operation_ref
from ..tools.waits import DEADLINE_MARGIN_S

__all__ = ["PreviewTool", "ScopePreview", "UnknownScopeError", "advertised_wait", "scope_preview"]


class PreviewTool(BaseModel):
    """One tool a server of the scope exposes."""

    name: str = Field(description="the MCP tool name")
    title: str
    kind: Literal["read", "write", "custom"] = Field(description="its method group")
    read_only: bool
    description: str = Field(description="one line")
    tokens: int = Field(description="estimated model tokens of its tools/list entry")


class ScopePreview(BaseModel):
    """What tools/list will show for a server of the given config."""

    tools: list[PreviewTool] = Field(description="every tool in scope, in catalog order")
    tool_list_tokens: int = Field(description="estimated model tokens of the full tool list (JSON bytes / 4)")
    exposure: Literal["full", "discovery"] = Field(
        description="full = tools/list shows `tools`; discovery = it shows the three meta tools instead"
    )
    listed_tokens: int = Field(description="estimated model tokens of what tools/list shows")
    catalog_version: str


class UnknownScopeError(ValueError):
    """Methods or tags the catalog does not know: (field, description) pairs."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {d}" for f, d in fields))
        self.fields = fields


def advertised_wait(settings: FacadeSettings) -> float:
    """The longest wait the toolbox advertises (GumloopToolbox: it must fit the call's deadline)."""
    return max(1.0, min(settings.max_wait_seconds, settings.request_deadline_s - DEADLINE_MARGIN_S))


def _check(config: McpConfig, operations: list[ppb.Operation]) -> None:
    refs = [operation_ref(op) for op in operations]
    fields: list[tuple[str, str]] = []
    if bad := unknown_methods(config.methods, refs):
        groups = ", ".join(sorted(METHOD_GROUPS))
        fields.append(("methods", f"unknown {bad}: use a method group ({groups}) or an operation name"))
    if bad := unknown_tags(config.tags, refs):
        fields.append(("tags", f"unknown {bad}: GET /catalog lists the tags"))
    if fields:
        raise UnknownScopeError(fields)


def scope_preview(
    operations: list[ppb.Operation],
    catalog_version: str,
    config: McpConfig,
    settings: FacadeSettings,
    describe: Callable[[ppb.Operation], str],
) -> ScopePreview:
    """The preview of `config` over the catalog `operations`.

    Raises:
        UnknownScopeError: a method or tag names nothing in the catalog.
    """
    _check(config, operations)
    group_of = {kind: group for group, kinds in METHOD_GROUPS.items() for kind in kinds}

    tools = [
        t
        for t in build_tools(operations, advertised_wait(settings)).values()
        if in_scope(operation_ref(t.operation), config.methods, config.tags)
    ]
    total = tool_list_tokens(t.listed for t in tools)
    mode = settings.tool_exposure if config.tool_exposure == "default" else config.tool_exposure
    if mode in ("full", "all"):
        exposure: Literal["full", "discovery"] = "full"
    elif mode == "discovery":
        exposure = "discovery"
    else:
        budget = config.context_budget_tokens or settings.context_budget_tokens
        exposure = "discovery" if total > budget else "full"
    return ScopePreview(
        tools=[
            PreviewTool(
                name=t.name,
                title=str(t.listed.get("title") or t.name),
                kind=group_of[t.kind],
                read_only=bool(t.operation.read_only),
                description=describe(t.operation),
                tokens=tool_list_tokens([t.listed]),
            )
            for t in tools
        ],
        tool_list_tokens=total,
        exposure=exposure,
        listed_tokens=tool_list_tokens(META_TOOLS) if exposure == "discovery" else total,
        catalog_version=catalog_version,
    )
