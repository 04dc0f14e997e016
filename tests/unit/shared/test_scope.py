"""The scope rule shared by the token service and the façade."""

from gumloop_mcp.scope import OperationRef, in_scope, matching_operations, unknown_methods, unknown_tags

OPS = [
    OperationRef("list_agents", "list", ("agents",)),
    OperationRef("get_agent", "get", ("agents",)),
    OperationRef("create_skill", "create", ("skills",)),
    OperationRef("delete_skill", "delete", ("skills",)),
    OperationRef("start_pipeline", "custom", ("flows", "legacy")),
]


def test_empty_scope_admits_every_operation() -> None:
    """No methods and no tags expose the whole catalog."""
    assert matching_operations(OPS, [], []) == OPS


def test_read_group_admits_only_get_and_list() -> None:
    """The read group is get plus list."""
    assert [op.name for op in matching_operations(OPS, ["read"], [])] == ["list_agents", "get_agent"]


def test_exact_names_and_groups_combine() -> None:
    """An exact operation name adds to a group."""
    names = [op.name for op in matching_operations(OPS, ["read", "start_pipeline"], [])]
    assert names == ["list_agents", "get_agent", "start_pipeline"]


def test_tags_intersect_with_methods() -> None:
    """Tags narrow what methods admit."""
    assert [op.name for op in matching_operations(OPS, ["write"], ["skills"])] == [
        "create_skill",
        "delete_skill",
    ]
    assert not in_scope(OPS[0], ["write"], ["agents"])


def test_unknown_methods_and_tags_are_reported_in_order() -> None:
    """Validation names each unknown entry."""
    assert unknown_methods(["read", "frobnicate", "get_agent", "delete_everything"], OPS) == [
        "frobnicate",
        "delete_everything",
    ]
    assert unknown_tags(["skills", "nope"], OPS) == ["nope"]
