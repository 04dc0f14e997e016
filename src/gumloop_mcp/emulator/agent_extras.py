"""Agent settings beyond the documented ones, shaped like the official SDK 0.5.9 types: native abilities
(``AgentAbilities``), knowledge source scopes (``KnowledgeSourceScope``), app rules (``AgentAppRule``), the
evaluation options (``AgentEvaluationOptionsResponse``) and the evaluation a run produces."""

from __future__ import annotations

import copy
from typing import Any

from gumloop_mcp.emulator.errors import bad_request
from gumloop_mcp.emulator.store import Session, Store, new_id

# What an agent can do before anyone changes it.
DEFAULT_ABILITIES: dict[str, dict[str, Any]] = {
    "web_search": {"enabled": True, "provider": None},
    "web_fetch": {"enabled": True, "provider": None},
    "image_generation": {"enabled": False, "model": None},
    "search_past_conversations": {"enabled": True},
    "ask_question": {"enabled": True},
    "tool_discovery": {"mode": "auto"},
    "manage_evaluations": {"enabled": False},
    "browser": {"enabled": False, "proxy_country": None, "profile_id": None},
}
PLATFORM_AGENTS = frozenset({"gumball", "analytics"})
EVALUATION_OPTIONS: dict[str, Any] = {
    "interaction_types": ["api", "web", "slack", "email", "triggered", "voice"],
    "criterion_types": ["prohibited_action", "prohibited_words", "voice_tone", "other"],
    "criterion_priorities": ["needs_review", "needs_attention"],
    "data_point_types": ["string", "boolean", "integer", "number"],
    "frequencies": ["every", "debounced"],
    "default_interaction_types": ["api", "web"],
    "limits": {
        "criteria": 30,
        "tags": 50,
        "data_points": 40,
        "tag_name_max_len": 64,
        "tag_description_max_len": 500,
        "notification_recipients": 10,
    },
}


def abilities(agent: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The agent's abilities: the defaults overlaid with what was set."""
    current = copy.deepcopy(DEFAULT_ABILITIES)
    for name, value in (agent.get("abilities") or {}).items():
        current[name] = {**current.get(name, {}), **value}
    return current


def apply_abilities(agent: dict[str, Any], body: dict[str, Any]) -> None:
    """Merge the abilities sent (each validated) into the agent; 400 naming the first bad one."""
    changes = {k: v for k, v in body.items() if k not in ("version", "team_id")}
    if not changes:
        raise bad_request(f"send at least one ability of {sorted(DEFAULT_ABILITIES)}", param="abilities")
    for name, value in changes.items():
        if name not in DEFAULT_ABILITIES:
            raise bad_request(f"unknown ability {name!r}; abilities: {sorted(DEFAULT_ABILITIES)}", param=name)
        if not isinstance(value, dict):
            raise bad_request(f"{name} must be an object", param=name)
        allowed = set(DEFAULT_ABILITIES[name])
        if unknown := sorted(set(value) - allowed):
            raise bad_request(f"{name} takes only {sorted(allowed)}, not {unknown}", param=name)
        if name == "tool_discovery":
            if value.get("mode") not in ("auto", "enabled"):
                raise bad_request("tool_discovery.mode must be auto or enabled", param=name)
        elif not isinstance(value.get("enabled"), bool):
            raise bad_request(f"{name}.enabled must be a boolean", param=name)
        for key, option in value.items():
            if key not in ("enabled", "mode") and option is not None and not isinstance(option, str):
                raise bad_request(f"{name}.{key} must be a string or null", param=name)
    stored = agent.setdefault("abilities", {})
    for name, value in changes.items():
        stored[name] = {**stored.get(name, {}), **value}


def knowledge_scope(value: Any) -> dict[str, Any] | None:
    """A validated ``KnowledgeSourceScope`` (None: the whole source), or 400."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("config must be an object or null", param="config")
    if unknown := sorted(set(value) - {"mode", "inclusions", "exclusions"}):
        raise bad_request(f"config takes mode, inclusions and exclusions, not {unknown}", param="config")
    mode = value.get("mode") or "denylist"
    if mode not in ("denylist", "include_only"):
        raise bad_request("config.mode must be denylist or include_only", param="config.mode")
    scope: dict[str, Any] = {"mode": mode}
    for key in ("inclusions", "exclusions"):
        rules = value.get(key) or []
        if not isinstance(rules, list):
            raise bad_request(f"config.{key} must be a list", param=f"config.{key}")
        for rule in rules:
            if (
                not isinstance(rule, dict)
                or rule.get("type") not in ("container", "document")
                or not isinstance(rule.get("id"), str)
                or not rule["id"]
            ):
                raise bad_request(
                    f"each of config.{key} is {{type: container or document, id, name?}}",
                    param=f"config.{key}",
                )
        scope[key] = rules
    if mode == "include_only" and not scope["inclusions"]:
        raise bad_request("include_only needs at least one inclusion", param="config.inclusions")
    # A denylist excluding nothing is the whole source, which Gumloop spells null.
    return None if mode == "denylist" and not scope["exclusions"] else scope


def seed_app_rules(store: Store, agent_id: str) -> None:
    """One active Slack rule the support agent wrote for itself."""
    store.app_rules[agent_id] = [
        {
            "id": "rule_slack_threads",
            "name": "Answer in threads",
            "description": "Reply to support requests in the message's thread, never in the channel.",
            "status": "active",
            "server_id": "gumloop_slack",
            "config": {"tool": "slack_send_message", "require": {"thread_ts": "present"}},
            "priority": 1,
        }
    ]


def evaluation_of(session: Session, config: dict[str, Any]) -> dict[str, Any]:
    """The result an evaluation of ``session`` produces (its ``created_ts`` is set when it finishes)."""
    ok = session.state == "completed"
    return {
        "evaluation_id": new_id("eval_"),
        "interaction_id": session.id,
        "agent_id": session.agent_id,
        "status": "completed",
        "grade": "pass" if ok else "needs_attention",
        "call_successful": "success" if ok else "failure",
        "sentiment": "neutral",
        "summary": f"Evaluated on request: {session.name}",
        "criteria_results": [
            {
                "id": f"c{n}",
                "name": str(c.get("name", f"criterion {n}")),
                "type": c.get("type", "other"),
                "priority": c.get("priority", "needs_review"),
                "result": "success" if ok else "failure",
                "rationale": "Checked against the session's messages",
            }
            for n, c in enumerate(config.get("criteria") or [], start=1)
            if isinstance(c, dict)
        ],
        "data_results": [],
        "applied_tags": [],
    }
