"""Sessions paused for a human: the status tool's paused result, and asking the person by elicitation."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from services.mcp_facade.contracts import (
    CallContext,
    ElicitationFailed,
    InputRequired,
    InputRound,
    ServerScope,
)
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.tools.approvals import answer_from, elicitation_request, summary
from services.mcp_facade.tools.toolbox import GumloopToolbox
from tests.unit.mcp_facade.test_toolbox import ALL, FakeProxy, rpc_error, text_of

STATUS = "get_single_gumloop_session_by_id"
ANSWER = "gumloop_resolve_session_approvals"
APPROVAL = {
    "action_request_id": "ar_tool",
    "type": "tool_approval",
    "title": "Allow Slack: Send a message?",
    "reason": "Slack is set to ask before write tool calls",
    "recipient_user_id": "u1",
    "tool_name": "slack_send_message",
    "server_label": "Slack",
    "display_fields": [["Server", "gumloop_slack"], ["Input", "post the report"]],
    "questions": None,
}
QUESTION = {
    "action_request_id": "ar_q",
    "type": "question",
    "title": "The agent has a question",
    "reason": "The agent needs more information to continue",
    "tool_name": None,
    "questions": [{"id": "q1", "question": "How should I proceed?", "type": "text", "required": True}],
}


def paused(*items: dict[str, Any]) -> dict[str, Any]:
    return {"session": {"id": "ses_1", "state": "approval_required", "pending_approvals": list(items)}}


DONE = {"session": {"id": "ses_1", "state": "completed", "pending_approvals": None}}


def box(proxy: FakeProxy) -> GumloopToolbox:
    return GumloopToolbox(proxy, FacadeSettings(), first_poll_interval_s=0.01)  # type: ignore[arg-type]


def ctx(elicit: Any = None) -> CallContext:
    context = CallContext(deadline=asyncio.get_running_loop().time() + 60)
    context.elicit = elicit
    return context


async def wait(
    proxy: FakeProxy, context: CallContext, scope: ServerScope = ALL, seconds: float = 30
) -> dict[str, Any]:
    args = {"session_id": "ses_1", "wait_seconds": seconds}
    return await box(proxy).call_tool(scope, STATUS, args, context)


async def test_a_wait_stops_at_approval_required_and_says_who_waits_and_how_to_answer() -> None:
    """The wait returns at once at the paused state (not after the wait is up); the text and the
    structured waiting_for_human name each item, the approvals tool with the ids, and a new message."""
    proxy = FakeProxy()
    proxy.sequence["get_session"] = [
        {"session": {"id": "ses_1", "state": "processing"}},
        paused(APPROVAL, QUESTION),
    ]
    result = await wait(proxy, ctx())
    assert len(proxy.invoked("get_session")) == 2
    text = text_of(result)
    assert "waiting for a human" in text and "approval_required" in text
    assert "ar_tool (tool_approval)" in text and "tool slack_send_message on Slack" in text
    assert "why: Slack is set to ask before write tool calls" in text and "Input: post the report" in text
    assert "question q1: How should I proceed?" in text
    assert f"call {ANSWER} with session_id=ses_1 and approval_responses" in text
    assert "accept|reject" in text and "gumloop_send_session_message" in text
    assert "Still running" not in text and "finished" not in text
    waiting = result["structuredContent"]["waiting_for_human"]
    assert [p["action_request_id"] for p in waiting["pending"]] == ["ar_tool", "ar_q"]
    assert waiting["pending"][0]["display_fields"] == {"Server": "gumloop_slack", "Input": "post the report"}
    assert "recipient_user_id" not in waiting["pending"][0]
    assert waiting["answer_with"] == {
        "tool": ANSWER,
        "arguments": {
            "session_id": "ses_1",
            "approval_responses": [
                {"action_request_id": "ar_tool", "action": "accept"},
                {"action_request_id": "ar_q", "action": "accept", "response": {"values": {"q1": "..."}}},
            ],
        },
    }
    assert waiting["resume_with"] == "gumloop_send_session_message"
    assert result["structuredContent"]["session"]["state"] == "approval_required"


async def test_a_status_read_without_waiting_also_explains_the_pause() -> None:
    proxy = FakeProxy()
    proxy.bodies["get_session"] = paused(QUESTION)
    result = await box(proxy).call_tool(ALL, STATUS, {"session_id": "ses_1"}, ctx())
    assert "waiting for a human" in text_of(result) and ANSWER in text_of(result)


async def test_a_read_only_scope_is_told_it_cannot_answer_and_nobody_is_asked() -> None:
    """Without the answer operation in scope the result says so, and no elicitation is sent."""
    proxy = FakeProxy()
    proxy.bodies["get_session"] = paused(APPROVAL)
    asked: list[dict[str, Any]] = []

    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        return {"action": "accept", "content": {"decision": "accept"}}

    reader = ServerScope(server_id="s", account_id="acct_1", name="r", methods=("read",))
    result = await wait(proxy, ctx(elicit), scope=reader)
    text = text_of(result)
    assert "does not include the answering operation (resolve_session_approvals)" in text
    assert ANSWER not in text and "send_session_message" not in text
    assert "answer_with" not in result["structuredContent"]["waiting_for_human"]
    assert asked == [] and proxy.invoked("resolve_session_approvals") == []


async def test_an_accepted_elicitation_resolves_the_approval_and_the_wait_goes_on() -> None:
    proxy = FakeProxy()
    proxy.sequence["get_session"] = [paused(APPROVAL, QUESTION), {"session": {"state": "processing"}}, DONE]
    asked: list[dict[str, Any]] = []

    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        if "q1" in params["requestedSchema"]["properties"]:
            return {"action": "accept", "content": {"decision": "accept", "q1": "carefully"}}
        return {"action": "accept", "content": {"decision": "accept", "reason": "fine"}}

    result = await wait(proxy, ctx(elicit))
    assert [a["message"].splitlines()[0] for a in asked] == [
        "Gumloop session ses_1 is waiting for you: Allow Slack: Send a message?",
        "Gumloop session ses_1 is waiting for you: The agent has a question",
    ]
    assert "Tool: slack_send_message (Slack)" in asked[0]["message"]
    assert proxy.invoked("resolve_session_approvals") == [
        {
            "session_id": "ses_1",
            "approval_responses": [
                {"action_request_id": "ar_tool", "action": "accept", "reason": "fine"},
                {
                    "action_request_id": "ar_q",
                    "action": "accept",
                    "response": {"values": {"q1": "carefully"}},
                },
            ],
        }
    ]
    text = text_of(result)
    assert "The person answered through the client (ar_tool accept, ar_q accept)" in text
    assert "finished with state completed" in text
    assert result["structuredContent"]["session"]["state"] == "completed"


async def test_a_declined_elicitation_leaves_the_session_paused_and_says_so() -> None:
    proxy = FakeProxy()
    proxy.bodies["get_session"] = paused(APPROVAL)

    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "decline"}

    result = await wait(proxy, ctx(elicit))
    text = text_of(result)
    assert text.count("The person declined the question; nothing was answered") == 1
    assert "waiting for a human" in text and ANSWER in text
    assert proxy.invoked("resolve_session_approvals") == []
    assert len(proxy.invoked("get_session")) == 1


async def test_a_failed_elicitation_or_upstream_refusal_is_reported_not_raised() -> None:
    proxy = FakeProxy()
    proxy.bodies["get_session"] = paused(APPROVAL)

    async def broken(params: dict[str, Any]) -> dict[str, Any]:
        raise ElicitationFailed("no answer within 30s")

    text = text_of(await wait(proxy, ctx(broken)))
    assert "could not be asked (no answer within 30s)" in text and "waiting for a human" in text

    async def accept(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"decision": "reject", "reason": "no"}}

    proxy.errors["resolve_session_approvals"] = rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "not waiting")
    result = await wait(proxy, ctx(accept))
    assert "Sending the person's answer failed upstream (FAILED_PRECONDITION: not waiting)" in text_of(result)
    assert result.get("isError") is not True


def test_elicitation_form_asks_for_a_decision_and_each_question() -> None:
    form = elicitation_request(QUESTION, "Gumloop session s", form_mode=True)
    assert form["mode"] == "form"
    schema = form["requestedSchema"]
    assert schema["required"] == ["decision"]
    assert schema["properties"]["decision"]["enum"] == ["accept", "reject"]
    assert schema["properties"]["q1"] == {"type": "string", "title": "How should I proceed?"}
    assert "mode" not in elicitation_request(APPROVAL, "x", form_mode=False)


def test_answers_from_replies() -> None:
    assert answer_from(APPROVAL, {"action": "cancel"}) is None
    assert answer_from(
        APPROVAL, {"action": "accept", "content": {"decision": "reject", "reason": " no "}}
    ) == {
        "action_request_id": "ar_tool",
        "action": "reject",
        "reason": "no",
    }
    # A rejected question needs no answers; an accepted one does.
    assert answer_from(QUESTION, {"action": "accept", "content": {"decision": "reject"}}) == {
        "action_request_id": "ar_q",
        "action": "reject",
    }
    for bad in ({"decision": "accept"}, {"decision": "maybe"}, {}):
        try:
            answer_from(QUESTION, {"action": "accept", "content": bad})
        except ValueError:
            continue
        raise AssertionError(f"{bad} should be refused")


def test_summary_is_compact() -> None:
    long = {**APPROVAL, "reason": "x" * 1_000, "display_fields": [[str(i), "v"] for i in range(20)]}
    view = summary(long)
    assert len(view["reason"]) < 310 and len(view["display_fields"]) == 8


# -- 2026-07-28: asked through input-required rounds ---------------------------------------------


def modern(caps: dict[str, Any], responses: dict[str, Any] | None = None, state: Any = None) -> CallContext:
    context = CallContext(deadline=asyncio.get_running_loop().time() + 60, client_capabilities=caps)
    context.input_rounds = True
    context.inputs = InputRound(responses or {}, state)
    return context


async def test_a_modern_request_with_elicitation_gets_one_form_per_pending_item() -> None:
    proxy = FakeProxy()
    proxy.bodies["get_session"] = paused(APPROVAL, QUESTION)
    with pytest.raises(InputRequired) as raised:
        await wait(proxy, modern({"elicitation": {"form": {}}}))
    requests = raised.value.requests
    assert list(requests) == ["approval:ar_tool", "approval:ar_q"]
    assert all(
        r["method"] == "elicitation/create" and r["params"]["mode"] == "form" for r in requests.values()
    )
    assert "q1" in requests["approval:ar_q"]["params"]["requestedSchema"]["properties"]
    assert raised.value.state == {"answered": []}  # a status wait started nothing
    assert proxy.invoked("resolve_session_approvals") == []


async def test_the_retried_round_resolves_with_the_answers_and_the_wait_goes_on() -> None:
    proxy = FakeProxy()
    proxy.sequence["get_session"] = [paused(APPROVAL, QUESTION), DONE]
    responses = {
        "approval:ar_tool": {"action": "accept", "content": {"decision": "reject", "reason": "no"}},
        "approval:ar_q": {"action": "accept", "content": {"decision": "accept", "q1": "slowly"}},
    }
    result = await wait(proxy, modern({"elicitation": {}}, responses, {"answered": []}))
    assert proxy.invoked("resolve_session_approvals") == [
        {
            "session_id": "ses_1",
            "approval_responses": [
                {"action_request_id": "ar_tool", "action": "reject", "reason": "no"},
                {"action_request_id": "ar_q", "action": "accept", "response": {"values": {"q1": "slowly"}}},
            ],
        }
    ]
    assert "The person answered through the client (ar_tool reject, ar_q accept)" in text_of(result)
    assert result["structuredContent"]["session"]["state"] == "completed"


async def test_a_later_pause_asks_only_what_is_new_and_seals_what_was_answered() -> None:
    proxy = FakeProxy()
    proxy.sequence["get_session"] = [paused(APPROVAL), paused(QUESTION)]
    responses = {"approval:ar_tool": {"action": "accept", "content": {"decision": "accept"}}}
    with pytest.raises(InputRequired) as raised:
        await wait(proxy, modern({"elicitation": {}}, responses))
    assert list(raised.value.requests) == ["approval:ar_q"]
    assert raised.value.state == {"answered": ["ar_tool"]}
    assert len(proxy.invoked("resolve_session_approvals")) == 1


async def test_no_round_without_declared_form_elicitation_or_outside_input_rounds() -> None:
    """Nothing is asked of a client that did not declare (form) elicitation, nor on a session request."""
    for caps, rounds in (({}, True), ({"elicitation": {"url": {}}}, True), ({"elicitation": {}}, False)):
        proxy = FakeProxy()
        proxy.bodies["get_session"] = paused(APPROVAL)
        context = modern(caps)
        context.input_rounds = rounds
        result = await wait(proxy, context)
        assert result["structuredContent"]["session"]["state"] == "approval_required", caps
        assert f"call {ANSWER} with session_id=ses_1" in text_of(result)
        assert "The person" not in text_of(result)
