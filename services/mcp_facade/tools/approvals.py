"""Work paused for a human: what the paused result says, and how a person is asked through elicitation.

A Gumloop session pauses in ``approval_required`` until someone answers its ``pending_approvals``
(Gumloop's ``PendingApproval``: ``{action_request_id, type ('tool_approval' | 'question'), title, reason,
tool_name, server_label, display_fields [[label, value]], questions [{id, question, ...}]}``). Which
states pause, where the pending items are and which operation answers them come from the catalog
(``AsyncWork.paused_states``, ``pending_field``, ``answer_operation``, ``answer_parameter``); this
module only knows the item shape.

`paused_report` builds the note and the structured ``waiting_for_human`` member of a status tool's
result. `elicitation_request` turns one pending item into an MCP ``elicitation/create`` form request
(a decision accept/reject, an optional reason, and one field per question), and `answer_from` turns
the person's reply into the item of the answer operation's list (None when they declined or
cancelled: the work stays paused).

Where a session transport cannot carry a server request (2026-07-28, stateless), the same form is
asked inline: `inline_replies` raises ``contracts.InputRequired`` with one ``elicitation/create``
input request per pending item (keyed ``approval:<action_request_id>``) when the request may carry
input rounds and the client declared form elicitation; the retried request (or, in a task, tasks/update)
brings the ElicitResults back. `round_state` / `answered_before` keep, in the sealed request state, the
work id and the items already answered, so a retry neither starts the work again nor answers twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from ..contracts import CallContext, InputRequired
from .waits import dotted

__all__ = [
    "PauseHelp",
    "answer_from",
    "answered_before",
    "asks_inline",
    "elicitation_request",
    "inline_replies",
    "input_key",
    "paused_report",
    "pending_items",
    "round_state",
    "started_work",
    "summary",
]

# Bounds that keep a paused result compact whatever upstream sends.
_MAX_ITEMS: Final = 10
_MAX_TEXT: Final = 300
_MAX_FIELDS: Final = 8
_DECISION: Final = "decision"
_REASON: Final = "reason"


@dataclass(frozen=True, slots=True)
class PauseHelp:
    """Tool names the caller can use on a paused work (None: not in this server's scope)."""

    status_tool: str
    answer_tool: str | None
    resume_tool: str | None


def pending_items(work: pb.AsyncWork, body: Any) -> list[dict[str, Any]]:
    """The pending items of a paused status body (objects only; empty when none or not listed)."""
    found = dotted(body, work.pending_field) if work.pending_field else None
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _question(q: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(q.get("id", ""))}
    label = q.get("question") or q.get("label") or q.get("title")
    if label:
        out["question"] = _text(label)
    for key in ("type", "required"):
        if key in q:
            out[key] = q[key]
    options = _options(q)
    if options:
        out["options"] = options
    return out


def _options(q: dict[str, Any]) -> list[str]:
    raw = q.get("options") or q.get("choices")
    if not isinstance(raw, list):
        return []
    values = [o.get("value", o.get("label")) if isinstance(o, dict) else o for o in raw]
    return [str(v) for v in values if v is not None][:20]


def summary(item: dict[str, Any]) -> dict[str, Any]:
    """A compact view of one pending item: only what a person needs to decide."""
    out: dict[str, Any] = {"action_request_id": item.get("action_request_id"), "type": item.get("type")}
    for key in ("title", "reason", "tool_name", "server_label"):
        text = _text(item.get(key))
        if text is not None:
            out[key] = text
    fields = item.get("display_fields")
    if isinstance(fields, list):
        pairs = [f for f in fields if isinstance(f, list) and len(f) >= 2][:_MAX_FIELDS]
        if pairs:
            out["display_fields"] = {str(f[0]): _text(f[1]) for f in pairs}
    questions = item.get("questions")
    if isinstance(questions, list):
        asked = [_question(q) for q in questions if isinstance(q, dict) and q.get("id")]
        if asked:
            out["questions"] = asked
    return out


def _line(item: dict[str, Any]) -> str:
    parts = [f"{item.get('action_request_id')} ({item.get('type')})"]
    if item.get("title"):
        parts.append(str(item["title"]))
    if item.get("tool_name"):
        parts.append(
            f"tool {item['tool_name']}" + (f" on {item['server_label']}" if item.get("server_label") else "")
        )
    if item.get("reason"):
        parts.append(f"why: {item['reason']}")
    if item.get("display_fields"):
        parts.append(", ".join(f"{k}: {v}" for k, v in item["display_fields"].items()))
    for q in item.get("questions") or []:
        options = f" [{' | '.join(q['options'])}]" if q.get("options") else ""
        parts.append(f"question {q['id']}: {q.get('question', '')}{options}")
    return "; ".join(parts)


def paused_report(
    work: pb.AsyncWork,
    body: Any,
    state: Any,
    work_id: Any,
    tools: PauseHelp,
    *,
    outcome: str = "",
) -> tuple[str, dict[str, Any]]:
    """(note for the model, structured ``waiting_for_human``) for a work paused in `state`.

    `outcome` is a sentence about what already happened in this call (e.g. an elicitation declined).
    """
    items = [summary(i) for i in pending_items(work, body)[:_MAX_ITEMS]]
    id_param = work.status_id_parameter
    lines = [
        f"Paused: the work ({id_param}={work_id}) is in state {state}, waiting for a human to answer "
        f"{len(items)} pending item(s):"
    ]
    lines += [f"- {_line(i)}" for i in items]
    structured: dict[str, Any] = {"state": state, "pending": items}
    if tools.answer_tool is not None:
        example = [
            {"action_request_id": i["action_request_id"], "action": "accept"}
            | (
                {"response": {"values": {q["id"]: "..." for q in i["questions"]}}}
                if i.get("questions")
                else {}
            )
            for i in items
        ]
        lines.append(
            f"To answer, call {tools.answer_tool} with {id_param}={work_id} and {work.answer_parameter}: "
            "one {action_request_id, action: accept|reject, reason?} per item (questions take "
            "response: {values: {question_id: answer}}). Ask the person first; do not decide for them."
        )
        structured["answer_with"] = {
            "tool": tools.answer_tool,
            "arguments": {id_param: work_id, work.answer_parameter: example},
        }
    else:
        lines.append(
            f"This MCP server's scope does not include the answering operation ({work.answer_operation}); "
            "the person can answer in Gumloop."
        )
    if tools.resume_tool is not None:
        lines.append(
            f"A new message ({tools.resume_tool}) also resumes the session, superseding what is pending."
        )
        structured["resume_with"] = tools.resume_tool
    lines.append(f"Then call {tools.status_tool} with wait_seconds to follow the work.")
    if outcome:
        lines.insert(0, outcome)
    return "\n".join(lines), structured


# -- elicitation ---------------------------------------------------------------------------------


def elicitation_request(item: dict[str, Any], work_label: str, *, form_mode: bool) -> dict[str, Any]:
    """The params of an ``elicitation/create`` form request asking a person about one pending item.

    `form_mode` adds ``mode: "form"`` (2025-11-25, which also knows url mode; 2025-06-18 has no mode).
    """
    view = summary(item)
    what = view.get("title") or (
        "A question from the agent" if view.get("type") == "question" else "Approve?"
    )
    lines = [f"{work_label} is waiting for you: {what}"]
    if view.get("tool_name"):
        lines.append(
            f"Tool: {view['tool_name']}" + (f" ({view['server_label']})" if view.get("server_label") else "")
        )
    if view.get("reason"):
        lines.append(f"Why: {view['reason']}")
    for label, value in (view.get("display_fields") or {}).items():
        lines.append(f"{label}: {value}")
    properties: dict[str, Any] = {
        _DECISION: {
            "type": "string",
            "title": "Decision",
            "description": "accept lets the agent go on; reject stops this action.",
            "enum": ["accept", "reject"],
        },
        _REASON: {"type": "string", "title": "Reason", "description": "Optional, shown to the agent."},
    }
    required = [_DECISION]
    for q in view.get("questions") or []:
        key = str(q["id"])
        if key in properties:
            continue
        field: dict[str, Any] = {"type": "string", "title": str(q.get("question") or key)}
        if q.get("options"):
            field["enum"] = list(q["options"])
        properties[key] = field
    params: dict[str, Any] = {"mode": "form"} if form_mode else {}
    params["message"] = "\n".join(lines)
    params["requestedSchema"] = {"type": "object", "properties": properties, "required": required}
    return params


def answer_from(item: dict[str, Any], reply: Any) -> dict[str, Any] | None:
    """The answer-operation item for `item` from an ElicitResult; None when declined or cancelled.

    Raises:
        ValueError: the reply was accepted but is unusable (no decision, or a required question left
            unanswered while accepting); the caller reports it and leaves the work paused.
    """
    if not isinstance(reply, dict) or reply.get("action") != "accept":
        return None
    raw = reply.get("content")
    content: dict[str, Any] = raw if isinstance(raw, dict) else {}
    decision = content.get(_DECISION)
    if decision not in ("accept", "reject"):
        raise ValueError("the reply carried no decision (accept or reject)")
    answer: dict[str, Any] = {"action_request_id": item.get("action_request_id"), "action": decision}
    reason = content.get(_REASON)
    if isinstance(reason, str) and reason.strip():
        answer["reason"] = reason.strip()
    questions = [q for q in item.get("questions") or [] if isinstance(q, dict) and q.get("id")]
    if decision == "accept" and questions:
        values = {
            str(q["id"]): content[str(q["id"])]
            for q in questions
            if content.get(str(q["id"])) not in (None, "")
        }
        missing = [str(q["id"]) for q in questions if q.get("required") and str(q["id"]) not in values]
        if missing:
            raise ValueError(f"the reply accepted without answering {missing}")
        answer["response"] = {"values": values}
    return answer


# -- asking inline (2026-07-28 input-required rounds) --------------------------------------------


def _declares_form_elicitation(capabilities: dict[str, Any]) -> bool:
    declared = capabilities.get("elicitation")
    # {} means form only; a client listing modes must list form.
    return isinstance(declared, dict) and (not declared or "form" in declared)


def asks_inline(ctx: CallContext) -> bool:
    """Whether a paused work may be asked about through an input-required round: the call may carry
    input rounds and the client declared form elicitation (never assumed otherwise)."""
    return ctx.input_rounds and _declares_form_elicitation(ctx.client_capabilities)


def input_key(item: dict[str, Any]) -> str:
    """The input request id asking about one pending item."""
    return f"approval:{item.get('action_request_id')}"


def answered_before(state: Any) -> set[str]:
    """The action request ids a previous round of this request already answered (sealed state)."""
    ids = state.get("answered") if isinstance(state, dict) else None
    return {str(i) for i in ids} if isinstance(ids, list) else set()


def started_work(state: Any) -> str | None:
    """The id of the work a previous round of this request already started (sealed state), if any."""
    work = state.get("work") if isinstance(state, dict) else None
    return str(work) if isinstance(work, (str, int)) and not isinstance(work, bool) else None


def round_state(work_id: Any, answered: set[str], *, started: bool) -> dict[str, Any]:
    """What the next round needs to know: the work (when this call started it) and what is answered."""
    state: dict[str, Any] = {"answered": sorted(answered)}
    if started and work_id is not None:
        state["work"] = str(work_id)
    return state


def inline_replies(
    items: list[dict[str, Any]], label: str, responses: dict[str, Any], state: dict[str, Any]
) -> list[Any]:
    """The client's ElicitResults for `items`, from this round's input responses, in order.

    Raises:
        InputRequired: some item has no response yet; one form request per such item, with `state`
            sealed for the next round.
    """
    missing = {
        input_key(item): {
            "method": "elicitation/create",
            "params": elicitation_request(item, label, form_mode=True),
        }
        for item in items
        if input_key(item) not in responses
    }
    if missing:
        raise InputRequired(missing, state)
    return [responses[input_key(item)] for item in items]
