"""Sessions that wait for a human: when the emulated agent would call a tool that needs approval, or ask
the user a question, its session pauses in state ``approval_required`` with ``pending_approvals`` (the
official SDK's ``PendingApproval``: ``{action_request_id, type, title, reason, recipient_user_id,
tool_name, server_label, display_fields, questions}``), until ``POST /sessions/{id}/approvals`` answers
(routes_approvals.py) or a new message supersedes them.

When a session pauses (deterministic, checked once per user message, when its processing finishes):

- **tool approval** (``type: "tool_approval"``): for each MCP server entry in the agent's ``tools`` whose
  server is ``connected``, by its ``approval_mode``: ``all`` — the server's first tool; ``write`` — its first
  tool that writes (mcp_catalog.py marks them, e.g. ``slack_send_message``); ``custom`` — its first tool
  whose ``tool_approval_modes`` value is ``all``, ``write`` or ``always``; ``off``/``inherit``/absent —
  none. So attaching ``gumloop_slack`` with ``{"approval_mode": "write"}`` makes every message pause for
  ``slack_send_message``.
- **question** (``type: "question"``): the user message contains ``[ask]``; the question has the id
  ``q1``, answered with ``{"action": "accept", "response": {"values": {"q1": "..."}}}``.

Answering: ``accept`` every pending item and the session processes again (``processing``, then
``completed`` with a reply naming the approved tools and the answers); ``reject`` any and it stops: it
completes at once with a reply saying which action was declined and why, no tool runs.
"""

from __future__ import annotations

import secrets
from typing import Any

from gumloop_mcp.emulator.errors import ApiError
from gumloop_mcp.emulator.ids import iso
from gumloop_mcp.emulator.session_ports import SessionHost, SessionLike

ASK_MARKER = "[ask]"


REQUIRING = {"all", "write", "always"}


def _tool_needing_approval(entry: dict[str, Any], server: dict[str, Any]) -> dict[str, Any] | None:
    mode = entry.get("approval_mode")
    tools: list[dict[str, Any]] = server["_tools"]
    writes: set[str] = server.get("_writes", set())
    if mode == "all":
        return tools[0] if tools else None
    if mode == "write":
        return next((t for t in tools if t["name"] in writes), None)
    if mode == "custom":
        modes = entry.get("tool_approval_modes") or {}
        return next((t for t in tools if modes.get(t["name"]) in REQUIRING), None)
    return None


def pending_for(
    agent: dict[str, Any], servers: dict[str, dict[str, Any]], prompt: str, user_id: str
) -> list[dict[str, Any]]:
    """What the agent's run of ``prompt`` must wait for (empty: nothing)."""
    pending: list[dict[str, Any]] = []
    for entry in agent.get("tools") or []:
        if not isinstance(entry, dict) or not entry.get("server_id"):
            continue
        server = servers.get(entry["server_id"])
        if server is None or server["status"] != "connected":
            continue
        tool = _tool_needing_approval(entry, server)
        if tool is None:
            continue
        pending.append(
            {
                "action_request_id": f"ar_{secrets.token_hex(6)}",
                "type": "tool_approval",
                "title": f"Allow {server['name']}: {tool['description']}?",
                "reason": f"{server['name']} is set to ask before {entry['approval_mode']} tool calls",
                "recipient_user_id": user_id,
                "tool_name": tool["name"],
                "server_label": server["name"],
                "display_fields": [
                    ["Server", server["server_id"]],
                    ["Tool", tool["name"]],
                    ["Input", prompt[:200]],
                ],
                "questions": None,
            }
        )
    if ASK_MARKER in prompt:
        pending.append(
            {
                "action_request_id": f"ar_{secrets.token_hex(6)}",
                "type": "question",
                "title": "The agent has a question",
                "reason": "The agent needs more information to continue",
                "recipient_user_id": user_id,
                "tool_name": None,
                "server_label": None,
                "display_fields": None,
                "questions": [
                    {"id": "q1", "question": "How should I proceed?", "type": "text", "required": True}
                ],
            }
        )
    return pending


def _question_answers(item: dict[str, Any], pending: dict[str, Any], index: int) -> dict[str, Any]:
    values = (item.get("response") or {}).get("values") if isinstance(item.get("response"), dict) else None
    missing = [
        q["id"]
        for q in pending.get("questions") or []
        if q.get("required") and not (values or {}).get(q["id"])
    ]
    if missing:
        raise ApiError(
            400, "invalid_request",
            f"approval_responses[{index}] accepts a question: response.values must answer {missing}",
            param="approval_responses", details={"question_ids": missing},
        )  # fmt: skip
    return dict(values or {})


def _validated(responses: Any) -> list[dict[str, Any]]:
    if not isinstance(responses, list) or not 1 <= len(responses) <= 20:
        raise ApiError(400, "invalid_request", "approval_responses must be a list of 1 to 20 items",
                       param="approval_responses")  # fmt: skip
    for index, item in enumerate(responses):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("action_request_id"), str)
            or item.get("action") not in {"accept", "reject"}
        ):
            raise ApiError(
                400, "invalid_request",
                f"approval_responses[{index}] needs action_request_id and action accept or reject",
                param="approval_responses",
            )  # fmt: skip
    return responses


def resolve(store: SessionHost, session: SessionLike, responses: Any, now: float) -> list[dict[str, Any]]:
    """Apply ``approval_responses`` to a session waiting in approval_required; the per-item results
    ``{action_request_id, action, outcome}`` (outcome ``accepted``, ``rejected`` or ``not_pending`` for an
    id the session is not waiting for). 409 no_pending_approvals unless the session waits; 400 for a
    malformed list or a question accepted without its answers. Once nothing is pending: any reject stops
    the session (completed, with a reply saying what was declined), else it processes again."""
    items = _validated(responses)
    if session.state != "approval_required" or not session.pending_approvals:
        raise ApiError(409, "no_pending_approvals", f"session {session.id!r} is {session.state}; "
                       "it is not waiting for an approval")  # fmt: skip
    by_id = {p["action_request_id"]: p for p in session.pending_approvals}
    results: list[dict[str, Any]] = []
    decided: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for index, item in enumerate(items):
        pending = by_id.pop(item["action_request_id"], None)
        if pending is None:
            results.append({**_echo(item), "outcome": "not_pending"})
            continue
        if item["action"] == "accept" and pending["type"] == "question":
            item = {**item, "answers": _question_answers(item, pending, index)}
        decided.append((pending, item))
        results.append({**_echo(item), "outcome": "accepted" if item["action"] == "accept" else "rejected"})
    session.pending_approvals = list(by_id.values())
    for pending, item in decided:
        session.decisions.append(_decision(pending, item))
    if session.pending_approvals:
        return results
    session.pending_approvals = None
    rejected = [p for p, item in decided if item["action"] == "reject"]
    if rejected:
        _stop(store, session, now)
    else:
        session.approved = True
        store.start("session", session, now, admitted=store.admit("session", now))
    return results


def _echo(item: dict[str, Any]) -> dict[str, Any]:
    return {"action_request_id": item["action_request_id"], "action": item["action"]}


def _decision(pending: dict[str, Any], item: dict[str, Any]) -> str:
    what = pending["tool_name"] or pending["title"]
    if item["action"] == "reject":
        reason = item.get("reason")
        return f"declined {what}" + (f": {reason}" if isinstance(reason, str) and reason else "")
    if pending["type"] == "question":
        return "answered: " + ", ".join(f"{k}={v}" for k, v in item.get("answers", {}).items())
    return f"approved {what}"


def _stop(store: SessionHost, session: SessionLike, now: float) -> None:
    """A rejected approval: the agent does not run the action and ends its turn."""
    reply = "Stopped without running the declined action (" + "; ".join(session.decisions) + ")"
    session.messages.append(
        {"id": f"msg_{secrets.token_hex(6)}", "role": "assistant", "content": reply,
         "created_at": iso(now), "creator_id": None, "parts": None}
    )  # fmt: skip
    session.state = "completed"
    session.due = None
    session.events.append({"type": "text-delta", "data": {"delta": reply}, "final": False})
    session.events.append(
        {"type": "finish", "data": {"state": "completed", "reason": "rejected"}, "final": True}
    )
