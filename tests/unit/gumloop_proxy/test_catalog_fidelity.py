"""The catalog held to Gumloop's official SDK (gumloop 0.5.9, a dev dependency) where Gumloop's
OpenAPI documents say less: session approvals, evaluation config, agent MCP server approval modes."""

from __future__ import annotations

import json
import re
import typing
from typing import Any

import gumloop.types as sdk
import jsonschema
import pydantic

from services.gumloop_proxy.catalog import CATALOG_PATH, default_catalog
from tests.unit.gumloop_proxy.test_contract import CONTRACT_PATH


def _raw(name: str) -> dict[str, Any]:
    document = json.loads(CATALOG_PATH.read_text())
    return next(o for o in document["operations"] if o["name"] == name)


def _schema(name: str) -> dict[str, Any]:
    op = default_catalog().get(name)
    assert op is not None, name
    return dict(op.input_schema)


def _literals(model: type[pydantic.BaseModel], field: str) -> set[str]:
    annotation = model.model_fields[field].annotation
    return {
        a for arg in typing.get_args(annotation) for a in typing.get_args(arg) or [arg] if isinstance(a, str)
    }


def test_sessions_pause_in_approval_required_and_the_catalog_says_so() -> None:
    """approval_required is a state to filter on and a state where waiting stops; the tools say that
    pending_approvals lists what waits and that a paused session accepts new messages."""
    state = _schema("list_sessions")["properties"]["state"]
    assert "approval_required" in state["enum"]
    for name in ("create_session", "send_session_message", "resolve_session_approvals"):
        op = default_catalog().get(name)
        assert op is not None
        work = op.proto.async_work
        # Paused, not terminal: the session goes on once answered; the wait stops there and says how.
        assert "approval_required" not in work.terminal_states, name
        assert list(work.paused_states) == ["approval_required"], name
        assert work.pending_field == "session.pending_approvals", name
        assert (work.answer_operation, work.answer_parameter) == (
            "resolve_session_approvals",
            "approval_responses",
        ), name
    assert "pending_approvals" in _raw("create_session")["description"]
    assert "pending_approvals" in _raw("get_session")["description"]
    assert "paused (approval_required)" in _raw("send_session_message")["description"]
    assert "pending_approvals" in sdk.Session.model_fields  # the SDK's session carries them


def test_list_sessions_filters_take_the_values_gumloop_uses() -> None:
    """sort_order and type are open strings upstream: credits_desc, name_asc and triggered pass."""
    schema = _schema("list_sessions")
    for arguments in ({"sort_order": "credits_desc"}, {"sort_order": "name_asc"}, {"type": "triggered"}):
        jsonschema.validate({"agent_id": "a", **arguments}, schema)
    assert "credits_desc" in schema["properties"]["sort_order"]["description"]
    assert "triggered" in schema["properties"]["type"]["description"]


def test_evaluation_config_frequency_is_a_mode_name_as_gumloop_reports_it() -> None:
    """frequency is a string like "debounced" (the documented config answer and the SDK agree)."""
    schema = _schema("update_evaluation_config")
    jsonschema.validate({"agent_id": "a", "frequency": "debounced"}, schema)
    contract = json.loads(CONTRACT_PATH.read_text())["operations"]
    answer = contract["GET /agents/{agent_id}/evaluation-config"]["responses"]["200"]["content"]
    documented = answer["application/json"]["properties"]["config"]["properties"]["frequency"]["type"]
    assert schema["properties"]["frequency"]["type"] == documented == "string"
    ours = {p["name"] for p in _raw("update_evaluation_config")["params"]} - {"agent_id"}
    assert ours <= set(sdk.EvaluationConfigUpdateRequest.model_fields)


def test_agent_mcp_server_approval_modes_are_the_sdks_and_the_example_is_valid() -> None:
    """approval_mode is inherit | off | all | write | custom; the example in the description validates."""
    config = _schema("attach_agent_mcp_server")["properties"]["config"]
    assert set(config["properties"]["approval_mode"]["enum"]) == _literals(sdk.AgentTool, "approval_mode")
    assert set(config["properties"]["credential_mode"]["enum"]) == _literals(sdk.AgentTool, "credential_mode")
    example = re.search(r"e\.g\. (\{.*?\})", config["description"])
    assert example is not None
    jsonschema.validate(
        {"agent_id": "a", "server_id": "s", "config": json.loads(example.group(1))},
        _schema("attach_agent_mcp_server"),
    )


def test_create_session_arguments_are_fields_the_sdk_sends() -> None:
    """Every create_session body argument is a field of the SDK's SessionCreateRequest."""
    ours = {p["name"] for p in _raw("create_session")["params"] if p["in"] == "body"}
    assert ours <= set(sdk.SessionCreateRequest.model_fields)


def test_resolve_session_approvals_takes_what_the_sdk_sends_and_refuses_what_it_refuses() -> None:
    """POST /sessions/{id}/approvals: an SDK-built request validates against the tool's schema and
    goes out as the same JSON body; answers the SDK refuses are refused too."""
    from services.gumloop_proxy.requests import build_request
    from tests.unit.gumloop_proxy.test_requests import Account

    op = default_catalog().get("resolve_session_approvals")
    assert op is not None and op.method == "POST" and op.path == "/sessions/{session_id}/approvals"
    assert op.proto.async_work.status_operation == "get_session"
    request = sdk.SessionApprovalsRequest(
        approval_responses=[
            sdk.SessionApprovalResponseItem(action_request_id="ar_1", action="accept"),
            sdk.SessionApprovalResponseItem(
                action_request_id="ar_2",
                action="reject",
                reason="not now",
                response=sdk.SessionApprovalFormResponse(values={"q": "a"}),
            ),
        ]
    ).model_dump(exclude_none=True)
    arguments = {"session_id": "s1", **request}
    jsonschema.validate(arguments, dict(op.input_schema))
    built = build_request(op, arguments, Account())
    assert built.url.endswith("/sessions/s1/approvals") and built.json_body == request
    for bad in (
        {"approval_responses": []},
        {"approval_responses": [{"action_request_id": "ar_1", "action": "maybe"}]},
        {"approval_responses": [{"action": "accept"}]},
        {"approval_responses": [{"action_request_id": "x", "action": "accept"}] * 21},
    ):
        try:
            sdk.SessionApprovalsRequest.model_validate(bad)
        except pydantic.ValidationError:
            pass
        else:
            raise AssertionError(f"the SDK accepts {bad}")
        assert not jsonschema.Draft202012Validator(dict(op.input_schema)).is_valid(
            {"session_id": "s", **bad}
        ), bad
    answer = set(json.loads(op.proto.output_schema_json)["properties"])
    assert answer <= set(sdk.SessionApprovalsResponse.model_fields)
