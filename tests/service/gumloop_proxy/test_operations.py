"""Every catalog operation round-trips through the proxy against the emulator."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from services.gumloop_proxy.catalog import default_catalog

from .conftest import invoke

SKILL_MD = "---\nname: {name}\ndescription: A test skill that says hello.\n---\n\n# Hello\n\nSay hello.\n"


class Ctx:
    """Finds ids in the emulator's seeded data (or makes them) for sample arguments, memoized."""

    def __init__(self, stub: pb_grpc.ProxyServiceStub, account_id: str, organization_id: str) -> None:
        self.stub = stub
        self.account_id = account_id
        self.organization_id = organization_id
        self._memo: dict[str, Any] = {}

    async def call(self, operation: str, arguments: dict[str, Any]) -> Any:
        """Invoke and return the JSON body."""
        _, body = await invoke(self.stub, self.account_id, operation, arguments)
        return body

    async def _once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._memo:
            self._memo[key] = await make()
        return self._memo[key]

    async def agent_id(self) -> str:
        async def make() -> str:
            return str((await self.call("list_agents", {}))["agents"][0]["id"])

        return str(await self._once("agent_id", make))

    async def saved_item_id(self) -> str:
        async def make() -> str:
            return str((await self.call("list_saved_items", {}))["saved_items"][0]["saved_item_id"])

        return str(await self._once("saved_item_id", make))

    async def pipeline_inputs(self) -> dict[str, Any]:
        body = await self.call("get_inputs", {"saved_item_id": await self.saved_item_id()})
        return {item["name"]: "sample" for item in body["inputs"]}

    async def run_id(self) -> str:
        async def make() -> str:
            body = await self.call(
                "start_pipeline",
                {
                    "saved_item_id": await self.saved_item_id(),
                    "pipeline_inputs": await self.pipeline_inputs(),
                },
            )
            return str(body["run_id"])

        return str(await self._once("run_id", make))

    async def done_run_id(self) -> str:
        """A run that finished, so that its output files exist."""
        run_id = await self.run_id()
        for _ in range(200):
            body = await self.call("get_pl_run", {"run_id": run_id})
            if body["state"] in ("DONE", "FAILED", "TERMINATED"):
                return run_id
            await asyncio.sleep(0.05)
        raise AssertionError("run never finished")

    async def prompt_arguments(self) -> dict[str, Any]:
        body = await self.call("list_mcp_server_prompts", {"server_id": await self.server_id()})
        return {a["name"]: "sample" for a in body["prompts"][0].get("arguments") or []}

    async def interaction_id(self) -> str:
        async def make() -> str:
            body = await self.call("start_agent", {"gummie_id": await self.agent_id(), "message": "hello"})
            return str(body["interaction_id"])

        return str(await self._once("interaction_id", make))

    async def session_id(self) -> str:
        async def make() -> str:
            body = await self.call("create_session", {"agent_id": await self.agent_id(), "input": "hello"})
            return str(body["session"]["id"])

        return str(await self._once("session_id", make))

    async def idle_session_id(self) -> str:
        """A session in a state that accepts a new message (waits for terminal state)."""
        session_id = await self.session_id()
        for _ in range(200):
            body = await self.call("get_session", {"session_id": session_id})
            if body["session"]["state"] in ("completed", "failed", "idle"):
                return session_id
            await asyncio.sleep(0.05)
        raise AssertionError("session never reached a terminal state")

    async def paused_session(self) -> tuple[str, str]:
        """A session paused in approval_required (the emulator's [ask] marker) and its pending item id."""
        body = await self.call("create_session", {"agent_id": await self.agent_id(), "input": "[ask] which?"})
        session_id = str(body["session"]["id"])
        for _ in range(200):
            session = (await self.call("get_session", {"session_id": session_id}))["session"]
            if session["state"] == "approval_required":
                return session_id, str(session["pending_approvals"][0]["action_request_id"])
            await asyncio.sleep(0.05)
        raise AssertionError("session never paused for approval")

    async def approval_arguments(self) -> dict[str, Any]:
        session_id, action_request_id = await self.paused_session()
        answer = {
            "action_request_id": action_request_id,
            "action": "accept",
            "response": {"values": {"q1": "a"}},
        }
        return {"session_id": session_id, "approval_responses": [answer]}

    async def queued(self) -> dict[str, Any]:
        """A message waiting in the queue of a paused session (a pause keeps the queue)."""
        session_id, _ = await self.paused_session()
        body = await self.call("queue_session_message", {"session_id": session_id, "input": "later"})
        assert body["queued_message"]["state"] == "queued", body
        return {"session_id": session_id, "queued_message_id": body["queued_message"]["id"]}

    async def artifact(self) -> dict[str, Any]:
        async def make() -> dict[str, Any]:
            body = await self.call("list_artifacts", {"agent_id": await self.agent_id()})
            return dict(body["artifacts"][0])

        return dict(await self._once("artifact", make))

    async def skill_id(self) -> str:
        async def make() -> str:
            body = await self.call("create_skill", {"files": [skill_file("sample-skill")]})
            return str(body["skill"]["id"])

        return str(await self._once("skill_id", make))

    async def server_id(self) -> str:
        async def make() -> str:
            return str((await self.call("list_mcp_servers", {}))["servers"][0]["server_id"])

        return str(await self._once("server_id", make))

    async def resource_uri(self) -> str:
        body = await self.call("list_mcp_server_resources", {"server_id": await self.server_id()})
        return str(body["resources"][0]["uri"])

    async def prompt_name(self) -> str:
        body = await self.call("list_mcp_server_prompts", {"server_id": await self.server_id()})
        return str(body["prompts"][0]["name"])

    async def version_id(self) -> str:
        body = await self.call("list_agent_versions", {"agent_id": await self.agent_id()})
        return str(body["versions"][0]["id"])

    async def evaluation_id(self) -> str:
        body = await self.call("list_evaluations", {"agent_id": await self.agent_id()})
        return str(body["evaluations"][0]["evaluation_id"])

    async def other_agent_id(self) -> str:
        """An agent other than agent_id (to delegate to)."""
        body, mine = await self.call("list_agents", {}), await self.agent_id()
        return next(str(a["id"]) for a in body["agents"] if a["id"] != mine)

    async def spare_agent_id(self) -> str:
        """A freshly created agent (to delete)."""
        body = await self.call("create_agent", {"name": "Spare agent", "model_name": await self.model()})
        return str(body["agent"]["id"])

    async def trigger_id(self) -> str:
        """A webhook trigger of agent_id."""

        async def make() -> str:
            arguments = {"agent_id": await self.agent_id(), "type": "webhook", "prompt": "Handle the event"}
            return str((await self.call("create_agent_trigger", arguments))["trigger"]["id"])

        return str(await self._once("trigger_id", make))

    async def model(self) -> str:
        return "anthropic/claude-sonnet-4"

    async def export_id(self) -> str:
        async def make() -> str:
            body = await self.call("create_data_export", EXPORT_ARGS)
            return str(body["data_export_id"])

        return str(await self._once("export_id", make))


def skill_file(name: str) -> dict[str, str]:
    """A SKILL.md file argument."""
    return {"filename": "SKILL.md", "content_text": SKILL_MD.format(name=name), "media_type": "text/markdown"}


EXPORT_ARGS = {
    "export_fields": ["user_id", "credits"],
    "start_date": "2026-01-01",
    "end_date": "2026-01-31",
    "data_type": "credit_logs",
}
SHARE = {"type": "person", "email": "bo@example.com", "role": "viewer"}
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)

Sample = Callable[[Ctx], Awaitable[dict[str, Any]]]


async def _agent(c: Ctx) -> dict[str, Any]:
    return {"agent_id": await c.agent_id()}


async def _server(c: Ctx) -> dict[str, Any]:
    return {"server_id": await c.server_id()}


async def _none(c: Ctx) -> dict[str, Any]:
    return {}


# Company Brain, organization evaluations and browser profiles (SDK-only operations): each sample makes
# what it needs, so samples never depend on one another's state.
def _text_file(name: str, text: str) -> dict[str, str]:
    return {"filename": name, "content_text": text, "media_type": "text/plain"}


async def _brain_source(c: Ctx, *, draft: bool = False) -> str:
    """A new file-upload source (a draft waiting for approval when ``draft``)."""
    body = await c.call("create_brain_source", {"name": "Sample policies", "require_approval": draft})
    return str(body["source"]["id"])


async def _draft_with_file(c: Ctx) -> dict[str, Any]:
    source_id = await _brain_source(c, draft=True)
    await c.call(
        "upload_brain_files", {"source_id": source_id, "files": [_text_file("a.txt", "Leave policy.")]}
    )
    return {"source_id": source_id}


async def _seeded_source(c: Ctx, kind: str) -> dict[str, Any]:
    body = await c.call("list_brain_sources", {"source_type": kind})
    return {"source_id": body["sources"][0]["id"]}


async def _brain_file(c: Ctx) -> dict[str, Any]:
    source_id = await _brain_source(c)
    body = await c.call("upload_brain_files", {"source_id": source_id, "files": [_text_file("b.txt", "Hi")]})
    return {"source_id": source_id, "file_id": body["files"][0]["id"]}


async def _org_evaluation(c: Ctx, *, covering: bool = False) -> str:
    """A new organization evaluation (targeting the whole organization when ``covering``)."""
    arguments = {"organization_id": c.organization_id, "name": f"Sample evaluation {secrets.token_hex(4)}"}
    evaluation_id = str((await c.call("create_organization_evaluation", arguments))["evaluation"]["id"])
    if covering:
        targets = {"evaluation_id": evaluation_id, "targets": [{"type": "organization"}]}
        await c.call("set_organization_evaluation_targets", targets)
    return evaluation_id


async def _agent_target(c: Ctx) -> dict[str, Any]:
    return {"type": "agent", "id": await c.agent_id()}


async def _evaluation_run(c: Ctx) -> dict[str, Any]:
    return {
        "evaluation_id": await _org_evaluation(c, covering=True),
        "session_ids": [await c.idle_session_id()],
    }


async def _evaluation_result(c: Ctx) -> dict[str, Any]:
    arguments = await _evaluation_run(c)
    body = await c.call("run_organization_evaluation", arguments)
    return {"evaluation_id": arguments["evaluation_id"], "result_id": body["results"][0]["id"]}


async def _browser_profile(c: Ctx) -> str:
    return str((await c.call("create_browser_profile", {"name": "Sample profile"}))["profile_id"])


SAMPLES: dict[str, Sample] = {
    "list_saved_items": _none,
    "list_workbooks": _none,
    "list_models": _none,
    "route_model": lambda c: _const({"input": "Summarise this email thread", "agent": {"name": "Helper"}}),
    "create_decision": lambda c: _awaited(
        {
            "model": c.model(),
            "state": "The customer asks for a refund of an unpaid invoice.",
            "questions": {
                "topic": {"type": "choice", "instructions": "Topic?", "criteria": {"refund": "", "bug": ""}}
            },
        }
    ),
    "query_wiki": lambda c: _const({"type": "project"}),
    "list_teams": _none,
    "list_mcp_servers": _none,
    "list_agents": _none,
    "list_skills": lambda c: _const({"page_size": 5}),
    "get_inputs": lambda c: _awaited({"saved_item_id": c.saved_item_id()}),
    "start_pipeline": lambda c: _awaited(
        {"saved_item_id": c.saved_item_id(), "pipeline_inputs": c.pipeline_inputs()}
    ),
    "get_pl_run": lambda c: _awaited({"run_id": c.run_id()}),
    "kill_pipeline": lambda c: _awaited({"run_id": c.run_id()}),
    "list_automation_runs": lambda c: _awaited({"saved_item_id": c.saved_item_id()}),
    "upload_file": lambda c: _const(
        {"file_name": "notes.txt", "file_content": base64.b64encode(b"hi").decode()}
    ),
    "upload_files": lambda c: _const(
        {"files": [{"file_name": "a.txt", "file_content": base64.b64encode(b"a").decode()}]}
    ),
    "download_file": lambda c: _awaited({"file_name": "output.txt", "run_id": c.done_run_id()}),
    "download_files": lambda c: _awaited({"file_names": ["output.txt"], "run_id": c.done_run_id()}),
    "start_agent": lambda c: _awaited({"gummie_id": c.agent_id(), "message": "hello"}),
    "get_agent_status": lambda c: _awaited({"interaction_id": c.interaction_id()}),
    "create_agent": lambda c: _awaited({"name": "Test agent", "model_name": c.model()}),
    "get_agent": _agent,
    "update_agent": lambda c: _awaited({"agent_id": c.agent_id(), "description": "updated"}),
    "update_agent_skills": lambda c: _awaited({"agent_id": c.agent_id(), "attach": _list(c.skill_id())}),
    "list_agent_mcp_servers": _agent,
    "attach_agent_mcp_server": lambda c: _awaited(
        {"agent_id": c.agent_id(), "server_id": c.server_id(), "config": {"approval_mode": "write"}}
    ),
    "detach_agent_mcp_server": lambda c: _awaited({"agent_id": c.agent_id(), "server_id": c.server_id()}),
    "list_agent_versions": _agent,
    "get_agent_version": lambda c: _awaited({"agent_id": c.agent_id(), "version_id": c.version_id()}),
    "delete_agent": lambda c: _awaited({"agent_id": c.spare_agent_id()}),
    "update_agent_abilities": lambda c: _awaited(
        {"agent_id": c.agent_id(), "web_search": {"enabled": False}}
    ),
    "set_agent_incognito": lambda c: _awaited({"agent_id": c.agent_id(), "enforced": True}),
    "list_agent_knowledge_sources": _agent,
    "attach_agent_knowledge_source": lambda c: _awaited(
        {"agent_id": c.agent_id(), "connector_id": "conn_notion", "config": {}}
    ),
    "detach_agent_knowledge_source": lambda c: _awaited(
        {"agent_id": c.agent_id(), "connector_id": "conn_notion"}
    ),
    "attach_agent_subagent": lambda c: _awaited(
        {"agent_id": c.agent_id(), "subagent_id": c.other_agent_id()}
    ),
    "detach_agent_subagent": lambda c: _awaited(
        {"agent_id": c.agent_id(), "subagent_id": c.other_agent_id()}
    ),
    "list_agent_triggers": _agent,
    "create_agent_trigger": lambda c: _awaited(
        {"agent_id": c.agent_id(), "type": "schedule", "prompt": "Report", "cron_expression": "0 9 * * 1-5"}
    ),
    "get_agent_trigger": lambda c: _awaited({"agent_id": c.agent_id(), "trigger_id": c.trigger_id()}),
    "update_agent_trigger": lambda c: _awaited(
        {"agent_id": c.agent_id(), "trigger_id": c.trigger_id(), "enabled": False}
    ),
    "delete_agent_trigger": lambda c: _awaited({"agent_id": c.agent_id(), "trigger_id": c.trigger_id()}),
    "get_agent_trigger_webhook_url": lambda c: _awaited(
        {"agent_id": c.agent_id(), "trigger_id": c.trigger_id()}
    ),
    "list_agent_trigger_runs": lambda c: _awaited(
        {"agent_id": c.agent_id(), "trigger_id": c.trigger_id(), "state": "completed,failed"}
    ),
    "get_agent_trigger_stats": lambda c: _awaited({"agent_id": c.agent_id(), "trigger_id": c.trigger_id()}),
    "list_agent_trigger_operators": _agent,
    "list_agent_app_rules": _agent,
    "list_sessions": _agent,
    "create_session": lambda c: _awaited({"agent_id": c.agent_id(), "input": "hello"}),
    "get_session": lambda c: _awaited({"session_id": c.session_id()}),
    "send_session_message": lambda c: _awaited({"session_id": c.idle_session_id(), "input": "and again"}),
    "cancel_session": lambda c: _awaited({"session_id": c.session_id()}),
    "rename_session": lambda c: _awaited({"session_id": c.session_id(), "name": "Renamed"}),
    "upload_session_file": lambda c: _awaited(
        {
            "session_id": c.session_id(),
            "file_name": "notes.txt",
            "file_content": base64.b64encode(b"hi").decode(),
        }
    ),
    "list_session_queue": lambda c: _awaited({"session_id": c.session_id()}),
    "queue_session_message": lambda c: _awaited({"session_id": c.session_id(), "input": "next"}),
    "edit_queued_session_message": lambda c: _with(c.queued(), {"input": "edited"}),
    "delete_queued_session_message": lambda c: c.queued(),
    "send_queued_session_message": lambda c: c.queued(),
    "get_session_access": lambda c: _awaited({"session_id": c.session_id()}),
    "update_session_access": lambda c: _awaited({"session_id": c.session_id(), "share": [SHARE]}),
    "resolve_session_approvals": lambda c: c.approval_arguments(),
    "list_artifacts": _agent,
    "get_artifact": lambda c: _awaited({"artifact_id": _field(c.artifact(), "id")}),
    "delete_artifact": lambda c: _awaited({"artifact_id": _field(c.artifact(), "id")}),
    "rename_artifact": lambda c: _awaited({"artifact_id": _field(c.artifact(), "id"), "name": "Renamed"}),
    "set_artifact_password": lambda c: _awaited(
        {"artifact_id": _field(c.artifact(), "id"), "password": "sample-password"}
    ),
    "list_artifact_versions": lambda c: _awaited({"artifact_id": _field(c.artifact(), "id")}),
    "get_artifact_access": lambda c: _awaited({"artifact_id": _field(c.artifact(), "id")}),
    "update_artifact_access": lambda c: _awaited(
        {"artifact_id": _field(c.artifact(), "id"), "link": {"mode": "anyone", "role": "viewer"}}
    ),
    "create_skill": lambda c: _const({"files": [skill_file("created-skill")]}),
    "update_skill": lambda c: _awaited({"skill_id": c.skill_id(), "files": [skill_file("sample-skill")]}),
    "delete_skill": lambda c: _awaited({"skill_id": c.skill_id()}),
    "get_skill_download": lambda c: _awaited({"skill_id": c.skill_id()}),
    "get_skill_access": lambda c: _awaited({"skill_id": c.skill_id()}),
    "update_skill_access": lambda c: _awaited(
        {"skill_id": c.skill_id(), "share": [{"type": "organization", "role": "viewer"}]}
    ),
    "get_skill_sync_plan": _none,
    "get_mcp_server": _server,
    "list_mcp_server_tools": _server,
    "list_mcp_server_resources": _server,
    "read_mcp_server_resource": lambda c: _awaited({"server_id": c.server_id(), "uri": c.resource_uri()}),
    "list_mcp_server_prompts": _server,
    "get_mcp_server_prompt": lambda c: _awaited(
        {"server_id": c.server_id(), "name": c.prompt_name(), "arguments": c.prompt_arguments()}
    ),
    "call_mcp_tools": lambda c: _awaited({"calls": _list(_call(c.server_id()))}),
    "list_mcp_server_accounts": _server,
    "create_chat_completion": lambda c: _awaited(
        {"model": c.model(), "messages": [{"role": "user", "content": "Say hi"}]}
    ),
    "search_brain": lambda c: _const({"query": "onboarding", "limit": 3}),
    "list_brain_sources": lambda c: _const({"scope": "organization", "page_size": 5}),
    "create_brain_source": lambda c: _const(
        {"name": "Handbook", "scope": "personal", "require_approval": True}
    ),
    "get_brain_source": lambda c: _awaited({"source_id": _brain_source(c)}),
    "delete_brain_source": lambda c: _awaited({"source_id": _brain_source(c)}),
    "sync_brain_source": lambda c: _awaited({"source_id": _brain_source(c)}),
    "list_brain_sync_runs": lambda c: _seeded_source(c, "notion"),
    "list_brain_source_issues": lambda c: _seeded_source(c, "google_drive"),
    "list_brain_source_children": lambda c: _seeded_source(c, "confluence"),
    "get_brain_source_estimate": _draft_with_file,
    "approve_brain_source": _draft_with_file,
    "list_brain_files": lambda c: _awaited({"source_id": _brain_source(c)}),
    "upload_brain_files": lambda c: _awaited(
        {"source_id": _brain_source(c), "files": [_text_file("notes.md", "# Notes")]}
    ),
    "delete_brain_file": _brain_file,
    "list_evaluations": _agent,
    "get_evaluation": lambda c: _awaited({"agent_id": c.agent_id(), "evaluation_id": c.evaluation_id()}),
    "get_evaluation_metrics": lambda c: _awaited({"agent_id": c.agent_id(), "days": 30}),
    "get_evaluation_config": _agent,
    "update_evaluation_config": lambda c: _awaited({"agent_id": c.agent_id(), "enabled": True}),
    "get_agent_evaluation_options": _none,
    "run_agent_evaluations": lambda c: _awaited(
        {"agent_id": c.agent_id(), "session_ids": _list(c.idle_session_id())}
    ),
    "list_audit_logs": lambda c: _const(
        {
            "organization_id": c.organization_id,
            "start_time": (NOW - dt.timedelta(days=30)).isoformat(),
            "end_time": NOW.isoformat(),
            "page": 1,
        }
    ),
    "create_data_export": lambda c: _const(EXPORT_ARGS),
    "get_export_status": lambda c: _awaited({"data_export_id": c.export_id()}),
    "manage_workspace_users": lambda c: _const(
        {
            "organization_id": c.organization_id,
            "workspace_id": "ws_1",
            "action": "add",
            "user_email": "new@example.com",
        }
    ),
    "manage_permission_group_users": lambda c: _const(
        {
            "organization_id": c.organization_id,
            "group_id": "grp_1",
            "action": "add",
            "user_email": "new@example.com",
        }
    ),
    "list_organizations": _none,
    "get_evaluation_options": _none,
    "list_organization_evaluations": lambda c: _const({"organization_id": c.organization_id}),
    "create_organization_evaluation": lambda c: _const(
        {
            "organization_id": c.organization_id,
            "name": f"Created {secrets.token_hex(4)}",
            "config": {"frequency": "daily"},
        }
    ),
    "get_organization_evaluation": lambda c: _awaited({"evaluation_id": _org_evaluation(c)}),
    "update_organization_evaluation": lambda c: _awaited(
        {"evaluation_id": _org_evaluation(c), "description": "d"}
    ),
    "delete_organization_evaluation": lambda c: _awaited({"evaluation_id": _org_evaluation(c)}),
    "set_organization_evaluation_targets": lambda c: _awaited(
        {"evaluation_id": _org_evaluation(c), "targets": _list(_agent_target(c))}
    ),
    "run_organization_evaluation": _evaluation_run,
    "list_organization_evaluation_results": lambda c: _awaited({"evaluation_id": _org_evaluation(c)}),
    "get_organization_evaluation_result": _evaluation_result,
    "get_organization_evaluation_metrics": lambda c: _awaited(
        {"evaluation_id": _org_evaluation(c), "days": 7}
    ),
    "list_browser_profiles": _none,
    "create_browser_profile": lambda c: _const({"name": "Work"}),
    "get_browser_profile": lambda c: _const({"profile_id": "default"}),
    "update_browser_profile": lambda c: _awaited({"profile_id": _browser_profile(c), "name": "Renamed"}),
    "delete_browser_profile": lambda c: _awaited({"profile_id": _browser_profile(c)}),
    "import_browser_profile_cookies": lambda c: _const(
        {
            "profile_id": "default",
            "url": "https://github.com",
            "cookies": [{"name": "sid", "value": "sample", "domain": ".github.com", "secure": True}],
        }
    ),
}
STREAM_ONLY = {"stream_session", "stream_new_session", "stream_session_message"}
NO_EMULATOR_ROUTE: set[str] = set()


async def _const(value: dict[str, Any]) -> dict[str, Any]:
    return value


async def _awaited(template: dict[str, Any]) -> dict[str, Any]:
    """Await every awaitable value of a template."""
    out = {}
    for key, value in template.items():
        out[key] = await value if asyncio.iscoroutine(value) else value
    return out


async def _with(base: Awaitable[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    return {**(await base), **extra}


async def _list(value: Awaitable[Any]) -> list[Any]:
    return [await value]


async def _field(value: Awaitable[dict[str, Any]], name: str) -> Any:
    return (await value)[name]


async def _call(server_id: Awaitable[str]) -> dict[str, Any]:
    return {"server_id": await server_id, "tool_name": "send_message", "arguments": {"text": "hi"}}


def test_every_catalog_operation_has_a_sample() -> None:
    """The round-trip test below covers the whole catalog."""
    assert set(default_catalog().operations) == set(SAMPLES) | STREAM_ONLY | NO_EMULATOR_ROUTE


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_operation_round_trips(
    name: str, stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """The operation returns a 2xx with the body fields its catalog entry promises."""
    ctx = Ctx(stub, account.id, emulator.settings.organization_id)
    arguments = await SAMPLES[name](ctx)
    operation = (await stub.GetOperation(pb.GetOperationRequest(name=name), timeout=5)).operation
    response, body = await invoke(stub, account.id, name, arguments)
    assert 200 <= response.http_status < 300, (name, response.http_status, response.body_json[:300])
    if operation.output_schema_json:
        expected = set(json.loads(operation.output_schema_json)["properties"])
        assert isinstance(body, dict), (name, response)
        assert expected <= set(body), (name, sorted(body))
    else:
        assert body is not None or response.HasField("content"), name


async def test_an_integral_float_page_size_reaches_gumloop_as_an_integer(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """The schema accepts 5.0 as an integer; sent as page_size=5.0 Gumloop answered 400."""
    _, agents = await invoke(stub, account.id, "list_agents", {})
    agent_id = agents["agents"][0]["id"]
    response, body = await invoke(stub, account.id, "list_sessions", {"agent_id": agent_id, "page_size": 1.0})
    assert response.http_status == 200 and len(body["sessions"]) <= 1
    response, body = await invoke(stub, account.id, "list_skills", {"page_size": 2.0})
    assert response.http_status == 200 and len(body["skills"]) <= 2


async def test_filters_the_spec_confirms_reach_gumloop_in_their_place(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """Session/skill list filters in the query, export scoping and chat options in the body; before,
    the catalog refused them as unknown arguments (an export scoped only by include_all_workspaces
    could not be requested at all)."""
    _, agents = await invoke(stub, account.id, "list_agents", {})
    agent_id = agents["agents"][0]["id"]
    filters = {"creator_user_id": "user_x", "trigger_id": "trig_x"}
    response, _ = await invoke(stub, account.id, "list_sessions", {"agent_id": agent_id, **filters})
    assert response.http_status == 200
    skill_filters = {"creator_user_id": "user_x", "related_server_id": "gumloop_slack", "unused": True}
    response, _ = await invoke(stub, account.id, "list_skills", skill_filters)
    assert response.http_status == 200
    export = {
        "export_fields": ["agent_id", "agent_name"],
        "start_date": "2026-01-01",
        "end_date": "2026-01-31",
        "data_type": "agents",
        "include_all_workspaces": True,
        "include_personal_workspaces": True,
    }
    _, body = await invoke(stub, account.id, "create_data_export", export)
    assert body["state"] == "REQUESTED"
    credit = {**EXPORT_ARGS, "category_filter": "AGENT_RUN"}
    _, body = await invoke(stub, account.id, "create_data_export", credit)
    assert body["state"] == "REQUESTED"
    chat = {
        "model": "anthropic/claude-sonnet-4",
        "messages": [{"role": "user", "content": "Say hi"}],
        "modalities": ["text"],
        "image_config": {"size": "1024x1024"},
        "provider": {"sort": "price"},
    }
    response, body = await invoke(stub, account.id, "create_chat_completion", chat)
    assert response.http_status == 200 and body["choices"]
    async with httpx.AsyncClient() as client:
        seen = (await client.get(f"{emulator.base_url}/__emulator/requests")).json()["requests"]
    sessions = next(r for r in seen if r["path"].endswith(f"/agents/{agent_id}/sessions"))
    skills = next(r for r in reversed(seen) if r["path"].endswith("/skills") and r["method"] == "GET")
    assert sessions["query"].items() >= filters.items()
    assert (
        skills["query"].items() >= {"creator_user_id": "user_x", "related_server_id": "gumloop_slack"}.items()
    )
    assert skills["query"]["unused"] == "true"
