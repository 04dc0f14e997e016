"""Sessions that wait for a human (approvals.py): approval_required with pending_approvals in the SDK's
shape, answered through POST /sessions/{id}/approvals; accept continues, reject stops; a paused session
takes a new message."""

import json
from typing import Any

import httpx
from gumloop.types import SessionApprovalsResponse, SessionResponse

from .conftest import FakeTime, error_of

A = "/api/v1"
WS = "/ws/api/v1"


async def _agent_asking_before_writes(client: httpx.AsyncClient) -> str:
    aid = (await client.post(A + "/agents", json={"name": "Poster", "model_name": "m"})).json()["agent"]["id"]
    r = await client.put(A + f"/agents/{aid}/mcp-servers/gumloop_slack", json={"approval_mode": "write"})
    assert r.status_code == 200, r.text
    return str(aid)


async def _paused(client: httpx.AsyncClient, fake_time: FakeTime, aid: str, text: str) -> dict[str, Any]:
    created = await client.post(A + f"/agents/{aid}/sessions", json={"input": text})
    assert created.status_code == 202
    fake_time.now += 5
    session = (await client.get(A + f"/sessions/{created.json()['session']['id']}")).json()["session"]
    assert session["state"] == "approval_required", session["state"]
    return dict(session)


async def test_a_write_tool_under_approval_mode_write_pauses_then_accept_completes(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """The session pauses before slack_send_message; accepting runs it and the session completes."""
    aid = await _agent_asking_before_writes(client)
    session = await _paused(client, fake_time, aid, "Post the weekly numbers")
    parsed = SessionResponse.model_validate({"session": session}).session
    assert parsed.pending_approvals is not None
    (pending,) = parsed.pending_approvals
    assert pending.type == "tool_approval" and pending.tool_name == "slack_send_message"
    assert pending.server_label == "Slack" and pending.action_request_id
    assert pending.recipient_user_id == "emu_user_1"
    listed = (await client.get(A + f"/agents/{aid}/sessions", params={"state": "approval_required"})).json()
    assert [s["id"] for s in listed["sessions"]] == [session["id"]]

    body = {"approval_responses": [{"action_request_id": pending.action_request_id, "action": "accept"}]}
    r = await client.post(A + f"/sessions/{session['id']}/approvals", json=body)
    assert r.status_code == 200, r.text
    answer = SessionApprovalsResponse.model_validate(r.json())
    assert [(x.action, x.outcome) for x in answer.results] == [("accept", "accepted")]
    assert answer.session.state == "processing" and answer.session.pending_approvals is None
    assert answer.stream_cursor is not None
    fake_time.now += 5
    done = (await client.get(A + f"/sessions/{session['id']}")).json()["session"]
    assert done["state"] == "completed"
    assert "approved slack_send_message" in done["messages"][-1]["content"]
    # The stream resumes after the pause from the answer's cursor, to the completion.
    params = {"stream": "true", "last_cursor": answer.stream_cursor}
    async with client.stream("GET", WS + f"/sessions/{session['id']}", params=params) as resp:
        events = [json.loads(line[6:]) async for line in resp.aiter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events] == ["text-delta", "finish"]
    assert events[-1]["data"]["state"] == "completed"
    again = await client.post(A + f"/sessions/{session['id']}/approvals", json=body)
    assert again.status_code == 409 and error_of(again)["code"] == "no_pending_approvals"


async def test_rejecting_stops_the_session_without_running_the_tool(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """reject (with a reason): completed at once, the reply names what was declined and why."""
    aid = await _agent_asking_before_writes(client)
    session = await _paused(client, fake_time, aid, "Post it")
    ar = session["pending_approvals"][0]["action_request_id"]
    body = {
        "approval_responses": [
            {"action_request_id": ar, "action": "reject", "reason": "not today"},
            {"action_request_id": "ar_unknown", "action": "accept"},
        ]
    }
    r = await client.post(A + f"/sessions/{session['id']}/approvals", json=body)
    assert r.status_code == 200
    assert [x["outcome"] for x in r.json()["results"]] == ["rejected", "not_pending"]
    stopped = r.json()["session"]
    assert stopped["state"] == "completed" and stopped["pending_approvals"] is None
    assert "declined slack_send_message: not today" in stopped["messages"][-1]["content"]


async def test_a_question_needs_its_answer_and_the_answer_reaches_the_reply(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """[ask] pauses with a question (id q1); accepting without values is a 400; with them it continues."""
    session = await _paused(client, fake_time, "agent_support", "Draft a reply [ask]")
    (pending,) = session["pending_approvals"]
    assert pending["type"] == "question" and pending["questions"][0]["id"] == "q1"
    url = A + f"/sessions/{session['id']}/approvals"
    item = {"action_request_id": pending["action_request_id"], "action": "accept"}
    unanswered = await client.post(url, json={"approval_responses": [item]})
    assert unanswered.status_code == 400 and error_of(unanswered)["details"]["question_ids"] == ["q1"]
    answered = {**item, "response": {"values": {"q1": "formal tone"}}}
    assert (await client.post(url, json={"approval_responses": [answered]})).status_code == 200
    fake_time.now += 5
    done = (await client.get(A + f"/sessions/{session['id']}")).json()["session"]
    assert done["state"] == "completed" and "q1=formal tone" in done["messages"][-1]["content"]
    bad = await client.post(url, json={"approval_responses": []})
    assert bad.status_code == 400 and error_of(bad)["param"] == "approval_responses"


async def test_a_paused_session_accepts_a_new_message_which_supersedes_the_pending_approvals(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """A new message while approval_required: 202 processing, nothing pending any more."""
    session = await _paused(client, fake_time, "agent_support", "Hello [ask]")
    r = await client.post(
        A + f"/sessions/{session['id']}/messages", json={"input": "never mind, just say hi"}
    )
    assert r.status_code == 202
    assert r.json()["session"]["state"] == "processing" and r.json()["session"]["pending_approvals"] is None
    fake_time.now += 5
    done = (await client.get(A + f"/sessions/{session['id']}")).json()["session"]
    assert done["state"] == "completed"


async def test_approval_responses_on_the_messages_route_answer_too_and_cancel_ends_a_pause(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """SessionContinueRequest.approval_responses without input answers the pause; cancel fails a pause."""
    session = await _paused(client, fake_time, "agent_support", "Hi [ask]")
    item = {
        "action_request_id": session["pending_approvals"][0]["action_request_id"],
        "action": "accept",
        "response": {"values": {"q1": "yes"}},
    }
    r = await client.post(A + f"/sessions/{session['id']}/messages", json={"approval_responses": [item]})
    assert r.status_code == 200 and r.json()["session"]["state"] == "processing"
    other = await _paused(client, fake_time, "agent_support", "Again [ask]")
    cancelled = await client.post(A + f"/sessions/{other['id']}/cancel", json={})
    assert cancelled.json()["session"]["state"] == "failed"


async def test_the_stream_of_a_paused_session_ends_with_the_pause(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """A stream read while paused ends with the finish event carrying the pending approvals."""
    session = await _paused(client, fake_time, "agent_support", "Hey [ask]")
    params = {"stream": "true"}
    async with client.stream("GET", WS + f"/sessions/{session['id']}", params=params) as resp:
        events = [json.loads(line[6:]) async for line in resp.aiter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "finish" and events[-1]["data"]["state"] == "approval_required"
    assert events[-1]["data"]["pending_approvals"][0]["type"] == "question"
