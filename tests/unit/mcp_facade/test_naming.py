"""Tool naming: the OPERATIONS.md rule, the 64-character cap and uniqueness."""

from __future__ import annotations

import re

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy.catalog import default_catalog
from services.mcp_facade.tools.naming import tool_name, tool_names


def op(name: str, kind: int, resource: str = "", plural: str = "") -> pb.Operation:
    return pb.Operation(name=name, kind=kind, resource=resource, resource_plural=plural)


def test_each_kind_follows_the_naming_rule() -> None:
    """list/get/create/update/delete/custom map to their templates."""
    assert (
        tool_name(op("list_agents", pb.OPERATION_KIND_LIST, "agent", "agents")) == "list_all_gumloop_agents"
    )
    assert tool_name(op("get_pl_run", pb.OPERATION_KIND_GET, "run", "runs")) == "get_single_gumloop_run_by_id"
    assert tool_name(op("create_skill", pb.OPERATION_KIND_CREATE, "skill")) == "create_a_gumloop_skill"
    assert tool_name(op("update_agent", pb.OPERATION_KIND_UPDATE, "agent")) == "update_a_gumloop_agent_by_id"
    assert tool_name(op("delete_skill", pb.OPERATION_KIND_DELETE, "skill")) == "delete_a_gumloop_skill_by_id"
    assert (
        tool_name(op("start_pipeline", pb.OPERATION_KIND_CUSTOM, "automation_run"))
        == "gumloop_start_pipeline"
    )


def test_odd_characters_are_replaced_and_missing_plural_derived() -> None:
    """Names keep only [a-z0-9_]; a missing plural is the resource plus s."""
    assert tool_name(op("x", pb.OPERATION_KIND_LIST, "MCP-Server")) == "list_all_gumloop_mcp_servers"


def test_long_names_are_shortened_deterministically_and_stay_distinct() -> None:
    """Over 64 characters: a prefix and a digest, the same every time, different per name."""
    a = op("a", pb.OPERATION_KIND_GET, "very_long_resource_name_that_goes_on_and_on_forever_alpha")
    b = op("b", pb.OPERATION_KIND_GET, "very_long_resource_name_that_goes_on_and_on_forever_beta")
    name_a, name_b = tool_name(a), tool_name(b)
    assert len(name_a) == 64 and len(name_b) == 64
    assert name_a == tool_name(a) and name_a != name_b
    assert re.fullmatch(r"[a-z0-9_]+", name_a)


def test_colliding_names_fall_back_to_operation_names() -> None:
    """Two operations mapping to one name both become gumloop_{operation}."""
    names = tool_names(
        [op("get_x", pb.OPERATION_KIND_GET, "thing"), op("read_x", pb.OPERATION_KIND_GET, "thing")]
    )
    assert names == {"get_x": "gumloop_get_x", "read_x": "gumloop_read_x"}


def test_the_real_catalog_names_are_unique_and_valid() -> None:
    """Every operation of the shipped catalog gets a unique, valid name."""
    names = tool_names(default_catalog().select())
    assert len(set(names.values())) == len(names)
    assert all(re.fullmatch(r"[a-z0-9_]{1,64}", n) for n in names.values())
    assert names["list_automation_runs"] == "list_all_gumloop_automation_runs"
    assert names["get_session"] == "get_single_gumloop_session_by_id"
