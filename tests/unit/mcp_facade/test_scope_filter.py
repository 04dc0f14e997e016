"""Scope filtering of operations by method groups, operation names and tags."""

from __future__ import annotations

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.mcp_facade.contracts import ServerScope
from services.mcp_facade.tools.scope_filter import scoped

OPS = [
    pb.Operation(name="list_agents", kind=pb.OPERATION_KIND_LIST, tags=["agents"]),
    pb.Operation(name="create_skill", kind=pb.OPERATION_KIND_CREATE, tags=["skills"]),
    pb.Operation(name="start_pipeline", kind=pb.OPERATION_KIND_CUSTOM, tags=["flows", "legacy"]),
]


def names(methods: tuple[str, ...] = (), tags: tuple[str, ...] = ()) -> list[str]:
    scope = ServerScope(server_id="s", account_id="a", name="n", methods=methods, tags=tags)
    return [op.name for op in scoped(scope, OPS)]


def test_an_empty_scope_admits_everything() -> None:
    """No methods and no tags: every operation."""
    assert names() == ["list_agents", "create_skill", "start_pipeline"]


def test_method_groups_and_exact_names_select_operations() -> None:
    """read admits lists; an exact operation name admits that operation."""
    assert names(("read",)) == ["list_agents"]
    assert names(("read", "start_pipeline")) == ["list_agents", "start_pipeline"]


def test_tags_narrow_the_methods() -> None:
    """Both parts must pass."""
    assert names(("write", "custom"), ("LEGACY",)) == ["start_pipeline"]
    assert names(("read",), ("skills",)) == []
