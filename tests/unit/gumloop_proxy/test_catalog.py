"""The catalog data file and its loader."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy.catalog import (
    CATALOG_PATH,
    CatalogError,
    default_catalog,
    load_catalog,
    parse_catalog,
)


def _document() -> dict[str, Any]:
    return json.loads(CATALOG_PATH.read_text())


def _broken(mutate: Any) -> str:
    document = copy.deepcopy(_document())
    mutate(document)
    with pytest.raises(CatalogError) as caught:
        parse_catalog(document, version="x")
    return str(caught.value)


def _op(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in document["operations"] if o["name"] == name)


def test_the_shipped_catalog_loads_with_every_operation_and_a_stable_version() -> None:
    """The shipped file validates; its version is a digest that does not change between loads."""
    catalog = default_catalog()
    assert len(catalog.operations) >= 58
    assert catalog.version == default_catalog().version
    assert re.fullmatch(r"[0-9a-f]{16}", catalog.version)


def test_every_final_operation_name_is_in_the_catalog() -> None:
    """The names agreed for the façade and the emulator are all present."""
    expected = {
        "start_pipeline", "get_pl_run", "kill_pipeline", "list_saved_items", "list_workbooks", "get_inputs",
        "list_automation_runs", "upload_file", "upload_files", "download_file", "download_files",
        "start_agent", "get_agent_status", "list_agents", "create_agent", "get_agent", "update_agent",
        "update_agent_skills",
        "list_agent_mcp_servers", "attach_agent_mcp_server", "detach_agent_mcp_server", "list_agent_versions",
        "get_agent_version", "list_sessions", "create_session", "get_session", "stream_session",
        "send_session_message", "cancel_session", "list_artifacts", "get_artifact", "list_skills",
        "create_skill", "update_skill", "delete_skill", "get_skill_download", "list_mcp_servers",
        "get_mcp_server",
        "list_mcp_server_tools", "list_mcp_server_resources", "read_mcp_server_resource",
        "list_mcp_server_prompts", "get_mcp_server_prompt", "call_mcp_tools", "create_chat_completion",
        "list_models", "list_teams", "search_brain", "list_evaluations", "get_evaluation",
        "get_evaluation_metrics", "get_evaluation_config", "update_evaluation_config", "list_audit_logs",
        "create_data_export", "get_export_status", "manage_workspace_users", "manage_permission_group_users",
    }  # fmt: skip
    assert expected <= set(default_catalog().operations)


def test_input_schemas_are_flat_objects_without_refs_or_account_fields() -> None:
    """No $ref anywhere, unknown arguments refused, and user_id/project_id/team_id never asked for."""
    for op in default_catalog().operations.values():
        text = op.proto.input_schema_json
        schema = json.loads(text)
        assert "$ref" not in text and "$shared" not in text, op.name
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert not {"user_id", "project_id", "team_id"} & set(schema["properties"]), op.name
        assert sorted(p.name for p in op.proto.parameters) == sorted(schema["properties"]), op.name


def test_parameters_keep_each_argument_placement() -> None:
    """Path, query, body and multipart file placements survive into the published Parameter list."""
    catalog = default_catalog()
    get_artifact = {p.name: p for p in catalog.get("get_artifact").proto.parameters}  # type: ignore[union-attr]
    assert (
        get_artifact["artifact_id"].location == pb.PARAMETER_LOCATION_PATH
        and get_artifact["artifact_id"].required
    )
    assert get_artifact["version_id"].location == pb.PARAMETER_LOCATION_QUERY
    skill = catalog.get("create_skill").proto  # type: ignore[union-attr]
    assert skill.parameters[0].location == pb.PARAMETER_LOCATION_MULTIPART_FILE
    pipeline = catalog.get("start_pipeline").proto  # type: ignore[union-attr]
    assert {p.location for p in pipeline.parameters} == {pb.PARAMETER_LOCATION_BODY}
    assert pipeline.has_dynamic_inputs and pipeline.starts_async_work
    assert pipeline.async_work.status_operation == "get_pl_run"
    assert list(pipeline.async_work.terminal_states) == ["DONE", "FAILED", "TERMINATED"]


def test_list_operations_declare_pagination_and_the_stream_host_is_used_for_chat() -> None:
    """Every list has a paging style; cursor lists name their parameters; chat is on the streaming host."""
    catalog = default_catalog()
    for op in catalog.operations.values():
        if op.kind == "list":
            assert op.proto.pagination.style != pb.PAGINATION_STYLE_UNSPECIFIED, op.name
    # Gumloop documents no paging for GET /agents (its next_cursor is reserved, always null)
    assert catalog.get("list_agents").proto.pagination.style == pb.PAGINATION_STYLE_NONE  # type: ignore[union-attr]
    sessions = catalog.get("list_sessions").proto  # type: ignore[union-attr]
    assert sessions.pagination.style == pb.PAGINATION_STYLE_CURSOR
    assert (sessions.pagination.cursor_parameter, sessions.pagination.next_cursor_field) == (
        "cursor",
        "next_cursor",
    )
    assert catalog.get("list_audit_logs").proto.pagination.style == pb.PAGINATION_STYLE_PAGE_NUMBER  # type: ignore[union-attr]
    chat = catalog.get("create_chat_completion").proto  # type: ignore[union-attr]
    assert chat.host == pb.HOST_STREAM and chat.streams


def test_select_filters_by_kind_tag_and_name_in_name_order() -> None:
    """ListOperations filters combine; results come ordered by name."""
    catalog = default_catalog()
    lists = catalog.select(kinds=[pb.OPERATION_KIND_LIST])
    assert lists and all(o.kind == pb.OPERATION_KIND_LIST for o in lists)
    assert [o.name for o in lists] == sorted(o.name for o in lists)
    skills = catalog.select(tags=["skills"], kinds=[pb.OPERATION_KIND_DELETE])
    assert [o.name for o in skills] == ["delete_skill"]
    assert [o.name for o in catalog.select(names=["get_agent", "nope"])] == ["get_agent"]


def test_a_broken_catalog_file_is_refused_at_load(tmp_path: Path) -> None:
    """A file that is not JSON stops the loader with a clear error."""
    broken = tmp_path / "catalog.json"
    broken.write_text('{"operations": [')
    with pytest.raises(CatalogError, match="not JSON"):
        load_catalog(broken)


def test_a_duplicate_operation_name_is_refused() -> None:
    """Names are unique."""
    message = _broken(
        lambda d: d["operations"].append(copy.deepcopy(_op(d, "get_agent")) | {"resource": "x"})
    )
    assert "duplicate name 'get_agent'" in message


def test_a_repeated_kind_and_resource_is_refused() -> None:
    """(kind, resource) is unique among non-custom operations, since tool names derive from it."""

    def mutate(d: dict[str, Any]) -> None:
        _op(d, "get_session")["resource"] = "agent"

    assert "already used by 'get_agent'" in _broken(mutate)


def test_an_undeclared_path_parameter_is_refused() -> None:
    """Every {placeholder} in the path must be a declared path parameter."""

    def mutate(d: dict[str, Any]) -> None:
        _op(d, "get_agent")["path"] = "/agents/{agent_id}/x/{other}"

    assert "path parameter {other} is not declared" in _broken(mutate)


def test_account_fields_cannot_be_arguments_and_refs_are_refused() -> None:
    """user_id comes from the account; $ref would make the schema non-flat."""

    def mutate(d: dict[str, Any]) -> None:
        _op(d, "get_agent")["params"].append({"name": "user_id", "in": "query", "schema": {"type": "string"}})
        _op(d, "list_agents")["params"][0]["schema"] = {"$ref": "#/x", "description": "d"}

    message = _broken(mutate)
    assert "'user_id' comes from the account" in message
    assert "$ref is not allowed" in message


def test_unknown_async_status_operation_and_bad_location_are_refused() -> None:
    """Async work must point at a real status operation; locations come from a fixed set."""

    def unknown_status(d: dict[str, Any]) -> None:
        _op(d, "start_agent")["async_work"]["status_operation"] = "no_such_op"

    def cookie(d: dict[str, Any]) -> None:
        _op(d, "get_agent")["params"][0]["in"] = "cookie"

    assert "start_agent: async status_operation 'no_such_op' is unknown" in _broken(unknown_status)
    assert re.search(
        r"\(get_agent\): params\[0\]\.in: Input should be 'path'.*\(got 'cookie'\)", _broken(cookie)
    )


def test_a_pausing_work_names_a_real_answer_operation_and_keeps_its_states_apart() -> None:
    """paused_states, pending_field, answer_operation and answer_parameter come together; the answer
    operation exists and takes the work id and the answers; a state is paused or terminal, never both."""

    def partial(d: dict[str, Any]) -> None:
        del _op(d, "create_session")["async_work"]["answer_parameter"]

    def unknown_answer(d: dict[str, Any]) -> None:
        _op(d, "create_session")["async_work"]["answer_operation"] = "no_such_op"

    def wrong_parameter(d: dict[str, Any]) -> None:
        _op(d, "create_session")["async_work"]["answer_parameter"] = "answers"

    def both(d: dict[str, Any]) -> None:
        _op(d, "create_session")["async_work"]["terminal_states"].append("approval_required")

    assert "go together" in _broken(partial)
    assert "create_session: async answer_operation 'no_such_op' is unknown" in _broken(unknown_answer)
    assert "resolve_session_approvals has no parameter ['answers']" in _broken(wrong_parameter)
    assert "states both paused and terminal: ['approval_required']" in _broken(both)


def test_a_cancel_operation_exists_and_takes_the_work_id() -> None:
    """async_work.cancel_operation (what a cancelled MCP task calls) names a real operation taking the id."""

    def unknown(d: dict[str, Any]) -> None:
        _op(d, "start_pipeline")["async_work"]["cancel_operation"] = "no_such_op"

    def no_id(d: dict[str, Any]) -> None:
        _op(d, "create_session")["async_work"]["cancel_operation"] = "list_skills"

    assert "start_pipeline: async cancel_operation 'no_such_op' is unknown" in _broken(unknown)
    assert "create_session: list_skills has no parameter 'session_id'" in _broken(no_id)


def test_the_catalog_is_strictly_typed_and_each_problem_names_operation_and_field() -> None:
    """Wrong types are not coerced, unknown keys are refused, every operation says its upstream source;
    all problems of the file are listed at once, each with its operation and field."""

    def mutate(d: dict[str, Any]) -> None:
        _op(d, "get_agent")["read_only"] = "yes"
        _op(d, "list_teams")["colour"] = "blue"
        del _op(d, "get_session")["upstream"]
        _op(d, "list_models")["upstream"] = {"source": "sdk"}
        _op(d, "list_sessions")["pagination"]["max_page_size"] = "100"

    message = _broken(mutate)
    assert "(get_agent): read_only: Input should be a valid boolean" in message
    assert "(list_teams): colour: Extra inputs are not permitted (got 'blue')" in message
    assert "(get_session): upstream: Field required" in message
    assert "(list_models): upstream: source 'sdk' needs a reference" in message
    assert "(list_sessions): pagination.max_page_size: Input should be a valid integer" in message


def test_a_list_without_pagination_and_an_invalid_schema_are_refused() -> None:
    """Lists must say how they page; parameter schemas must be valid JSON Schema."""

    def mutate(d: dict[str, Any]) -> None:
        del _op(d, "list_teams")["pagination"]
        _op(d, "get_pl_run")["params"][0]["schema"] = {"type": "strung", "description": "d"}

    message = _broken(mutate)
    assert "list operations need pagination" in message
    assert "input schema invalid" in message


def test_fixed_body_fields_need_a_json_body_and_cannot_be_arguments() -> None:
    """A constant body field on a GET, or one an argument also sets, is refused naming the operation."""

    def on_get(d: dict[str, Any]) -> None:
        _op(d, "get_agent")["fixed_body"] = {"stream": True}

    def clash(d: dict[str, Any]) -> None:
        _op(d, "stream_new_session")["fixed_body"] = {"stream": True, "input": "x"}

    assert "(get_agent): fixed_body needs a JSON body (not GET, DELETE or multipart)" in _broken(on_get)
    assert "(stream_new_session): body parameter 'input' is also a fixed_body field" in _broken(clash)
