"""Agent triggers as the official SDK (gumloop 0.5.9 ``AgentTrigger``) shapes them: schedule (a cron
expression or one ``run_at``), webhook (a URL embedding a secret, shown only on create and by the
webhook-url route) and integration (an event of one of ``OPERATORS``, created disabled unless asked).

A stored trigger keeps its secret under ``_secret``; ``public`` strips every ``_`` key and the URL, so
lists and reads never carry it. Runs (``AgentTriggerRun``) are seeded history; stats are computed from them.
"""

from __future__ import annotations

import datetime
import re
import secrets
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gumloop_mcp.emulator.errors import bad_request
from gumloop_mcp.emulator.store import Store, iso, new_id

TYPES = ("schedule", "webhook", "integration")
SCHEDULE_FIELDS = ("cron_expression", "run_at", "timezone")
# Five cron fields of digits, names, ranges, steps, lists and wildcards.
_CRON_FIELD = re.compile(
    r"^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)
OPERATORS: list[dict[str, Any]] = [
    {
        "name": "gmail_new_email",
        "display_name": "New email (Gmail)",
        "version": "1.0.0",
        "description": "Fires when an email arrives in the connected Gmail inbox.",
        "category": "email",
        "credential_types": ["gmail"],
        "parameters": [
            {"name": "label", "data_type": "string", "description": "Only emails with this label.",
             "required": False, "default_value": "INBOX", "is_dynamic": False, "is_hidden": False},
            {"name": "from_filter", "data_type": "string", "description": "Only emails from this sender.",
             "required": False, "default_value": None, "is_dynamic": False, "is_hidden": False},
        ],
    },
    {
        "name": "slack_new_message",
        "display_name": "New message (Slack)",
        "version": "1.2.0",
        "description": "Fires when a message is posted in a Slack channel.",
        "category": "messaging",
        "credential_types": ["slack"],
        "parameters": [
            {"name": "channel", "data_type": "string", "description": "The channel to watch.",
             "required": True, "default_value": None, "is_dynamic": True, "is_hidden": False},
        ],
    },
    {
        "name": "github_new_issue",
        "display_name": "New issue (GitHub)",
        "version": "1.0.0",
        "description": "Fires when an issue is opened in a repository.",
        "category": "developer",
        "credential_types": ["github"],
        "parameters": [
            {"name": "repository", "data_type": "string", "description": "owner/name of the repository.",
             "required": True, "default_value": None, "is_dynamic": False, "is_hidden": False},
        ],
    },
]  # fmt: skip


def public(trigger: dict[str, Any], *, with_url: str | None = None) -> dict[str, Any]:
    """The trigger as answered: no ``_`` keys; ``webhook_url`` only when ``with_url`` is given."""
    out = {k: v for k, v in trigger.items() if not k.startswith("_")}
    out["webhook_url"] = with_url
    return out


def webhook_url(base: str, trigger: dict[str, Any]) -> str:
    """The URL that runs a webhook trigger; it embeds the trigger's secret."""
    return f"{base}/api/v1/webhooks/agent-triggers/{trigger['id']}?secret={trigger['_secret']}"


def of_agent(store: Store, agent_id: str) -> list[dict[str, Any]]:
    """The agent's triggers, oldest first."""
    return sorted(
        (t for t in store.triggers.values() if t["agent_id"] == agent_id), key=lambda t: t["created_at"]
    )


def recount(store: Store, agent_id: str) -> None:
    """Keep the agent's ``active_trigger_count`` equal to its enabled triggers."""
    agent = store.agents.get(agent_id)
    if agent is not None:
        agent["active_trigger_count"] = sum(1 for t in of_agent(store, agent_id) if t["enabled"])


def forget(store: Store, agent_id: str) -> None:
    """Drop every trigger of a deleted agent and their runs."""
    for trigger in of_agent(store, agent_id):
        del store.triggers[trigger["id"]]
        store.trigger_runs.pop(trigger["id"], None)


def _string(body: dict[str, Any], key: str, *, empty: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise bad_request(f"{key} must be a non-empty string", param=key)
    return value


def _check_schedule(fields: dict[str, Any]) -> None:
    cron, run_at, tz = fields.get("cron_expression"), fields.get("run_at"), fields.get("timezone")
    if cron is not None:
        parts = cron.split()
        if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
            raise bad_request(
                "cron_expression must have five cron fields, e.g. '0 9 * * 1-5'", "cron_expression"
            )
    if run_at is not None:
        try:
            datetime.datetime.fromisoformat(run_at.replace("Z", "+00:00"))
        except ValueError as exc:
            raise bad_request("run_at must be an ISO 8601 date-time", param="run_at") from exc
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise bad_request(f"timezone {tz!r} is not an IANA timezone", param="timezone") from exc


def _integration(value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answered integration payload and the credentials kept aside, or 400."""
    if not isinstance(value, dict):
        raise bad_request("integration must be an object with operator_name", param="integration")
    unknown = sorted(set(value) - {"operator_name", "parameters", "credentials_to_use"})
    if unknown:
        raise bad_request(f"integration has unknown fields {unknown}", param="integration")
    name = value.get("operator_name")
    operator = next((o for o in OPERATORS if o["name"] == name), None)
    if operator is None:
        raise bad_request(f"unknown trigger operator {name!r}", param="integration.operator_name")
    parameters = value.get("parameters") or {}
    credentials = value.get("credentials_to_use") or {}
    if not isinstance(parameters, dict) or not isinstance(credentials, dict):
        raise bad_request("parameters and credentials_to_use must be objects", param="integration")
    missing = [p["name"] for p in operator["parameters"] if p["required"] and p["name"] not in parameters]
    if missing:
        raise bad_request(f"operator {name} needs parameters {missing}", param="integration.parameters")
    strange = sorted(set(credentials) - set(operator["credential_types"]))
    if strange:
        raise bad_request(
            f"credentials_to_use keys {strange} are not credential types of {name}",
            param="integration.credentials_to_use",
        )
    for key, selector in credentials.items():
        if not isinstance(selector, dict) or not isinstance(selector.get("secret_id"), str):
            raise bad_request(
                f"credentials_to_use.{key} needs a secret_id", param="integration.credentials_to_use"
            )
    payload = {"operator_name": name, "operator_version": operator["version"], "parameters": parameters}
    return payload, credentials


def _common(body: dict[str, Any], fields: dict[str, Any]) -> None:
    for key in ("name", "prompt", *SCHEDULE_FIELDS):
        if key in body:
            fields[key] = _string(body, key, empty=key == "name")
    for key in ("pass_raw_data", "enabled"):
        if key in body and body[key] is not None:
            if not isinstance(body[key], bool):
                raise bad_request(f"{key} must be a boolean", param=key)
            fields[key] = body[key]
    if body.get("max_failures") is not None:
        value = body["max_failures"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad_request("max_failures must be a positive integer", param="max_failures")
        fields["max_failures"] = value


def create(store: Store, agent_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
    """A new trigger from a create body (validated as ``AgentTriggerCreateRequest``), stored."""
    unknown = sorted(set(body) - {"type", "prompt", "name", "pass_raw_data", "enabled", "max_failures",
                                  "integration", "team_id", *SCHEDULE_FIELDS})  # fmt: skip
    if unknown:
        raise bad_request(f"unknown fields {unknown}", param=unknown[0])
    kind = body.get("type")
    if kind not in TYPES:
        raise bad_request("type must be schedule, webhook or integration", param="type")
    if not _string(body, "prompt"):
        raise bad_request("prompt is required", param="prompt")
    fields: dict[str, Any] = {}
    _common(body, fields)
    given_schedule = [k for k in SCHEDULE_FIELDS if fields.get(k) is not None]
    integration: dict[str, Any] | None = None
    credentials: dict[str, Any] = {}
    if kind == "schedule":
        if (fields.get("cron_expression") is None) == (fields.get("run_at") is None):
            raise bad_request("a schedule takes exactly one of cron_expression or run_at", "cron_expression")
        _check_schedule(fields)
    elif given_schedule:
        raise bad_request(f"{kind} triggers take no schedule fields", param=given_schedule[0])
    if (kind == "integration") != (body.get("integration") is not None):
        raise bad_request("integration is required for, and only for, integration triggers", "integration")
    if kind == "integration":
        integration, credentials = _integration(body["integration"])
    trigger = {
        "id": new_id("trig_"),
        "agent_id": agent_id,
        "type": kind,
        "name": fields.get("name"),
        "prompt": fields["prompt"],
        "cron_expression": fields.get("cron_expression"),
        "run_at": fields.get("run_at"),
        "timezone": fields.get("timezone") or ("UTC" if kind == "schedule" else None),
        "pass_raw_data": fields.get("pass_raw_data", False),
        "enabled": fields.get("enabled", kind != "integration"),
        "status": None,
        "max_failures": fields.get("max_failures"),
        "created_at": iso(now + len(store.triggers) * 1e-3),
        "last_run_at": None,
        "integration": integration,
        "_secret": secrets.token_urlsafe(24) if kind == "webhook" else None,
        "_credentials": credentials,
    }
    trigger["status"] = "active" if trigger["enabled"] else "disabled"
    store.triggers[trigger["id"]] = trigger
    store.trigger_runs[trigger["id"]] = []
    recount(store, agent_id)
    return trigger


def update(store: Store, trigger: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Apply an ``AgentTriggerUpdateRequest`` body: only the fields sent change."""
    unknown = sorted(set(body) - {"prompt", "name", "pass_raw_data", "enabled", "max_failures",
                                  "integration", "team_id", *SCHEDULE_FIELDS})  # fmt: skip
    if unknown:
        raise bad_request(f"unknown fields {unknown}", param=unknown[0])
    if not set(body) - {"team_id"}:
        raise bad_request("nothing to update: send at least one field", param="prompt")
    fields: dict[str, Any] = {}
    _common(body, fields)
    schedule = [k for k in SCHEDULE_FIELDS if k in fields]
    if schedule and trigger["type"] != "schedule":
        raise bad_request(f"{schedule[0]} applies only to schedule triggers", param=schedule[0])
    if body.get("integration") is not None:
        if trigger["type"] != "integration":
            raise bad_request("integration applies only to integration triggers", param="integration")
        if trigger["enabled"] and "enabled" not in fields:
            raise bad_request(
                "replacing an active integration needs an explicit enabled (true or false)", param="enabled"
            )
        trigger["integration"], trigger["_credentials"] = _integration(body["integration"])
    if fields.get("cron_expression") is not None:
        fields["run_at"] = None
    elif fields.get("run_at") is not None:
        fields["cron_expression"] = None
    _check_schedule(fields)
    if "prompt" in fields and fields["prompt"] is None:
        raise bad_request("prompt cannot be cleared", param="prompt")
    trigger.update(fields)
    if trigger["type"] == "schedule" and trigger["cron_expression"] is None and trigger["run_at"] is None:
        raise bad_request("a schedule needs cron_expression or run_at", param="cron_expression")
    trigger["status"] = "active" if trigger["enabled"] else "disabled"
    recount(store, trigger["agent_id"])
    return trigger


def stats(store: Store, trigger: dict[str, Any]) -> dict[str, Any]:
    """``AgentTriggerStatsResponse`` computed from the trigger's runs."""
    runs = store.trigger_runs.get(trigger["id"], [])
    run_credits = round(sum(r["credit_cost"] or 0.0 for r in runs), 4)
    poll_credits = round(0.1 * len(runs), 4) if trigger["type"] == "integration" else 0.0
    return {
        "run_count": len(runs),
        "last_run_ts": max((r["created_ts"] for r in runs), default=None),
        "run_credits": run_credits,
        "poll_credits": poll_credits,
        "total_credits": round(run_credits + poll_credits, 4),
    }


def seed(store: Store, now: float, agent_id: str, session_id: str) -> None:
    """agent_support's weekday-morning schedule with three past runs (the last one failed)."""
    trigger = create(
        store,
        agent_id,
        {"type": "schedule", "name": "Morning triage", "prompt": "Triage the new tickets",
         "cron_expression": "0 9 * * 1-5", "timezone": "Europe/London", "max_failures": 3},
        now - 15 * 86400,
    )  # fmt: skip
    runs = []
    for n, state in enumerate(("completed", "completed", "failed"), start=1):
        started = now - (4 - n) * 86400
        runs.append(
            {
                "gummie_trigger_run_id": f"trun_{n}",
                "interaction_id": session_id if n == 1 else f"sess_trigger_{n}",
                "state": state,
                "name": f"Morning triage {n}",
                "message_id": f"msg_trigger_{n}",
                "continuation_mode": "new_session",
                "created_ts": iso(started),
                "finished_ts": iso(started + 42),
                "duration_ms": 42000,
                "credit_cost": 1.5,
                "delivery_refusal": None,
                "background_task": None,
            }
        )
    store.trigger_runs[trigger["id"]] = list(reversed(runs))
    trigger["last_run_at"] = runs[-1]["created_ts"]
