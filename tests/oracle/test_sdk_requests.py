"""REQUESTS: for every catalog operation Gumloop's SDK implements, the SDK's call and the same call made
through the proxy (its gRPC service against a capturing stand-in on 127.0.0.1) must send the same
request: method, path, query keys, body keys, Authorization, x-auth-key and where team_id goes."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from gumloop import AsyncGumloop, Gumloop, GumloopClient

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from services.gumloop_proxy.server import create_server
from services.gumloop_proxy.settings import ProxySettings

from .capture import Captured, CapturingGumloop

KEY, USER, TEAM = "sk_oracle_key_123456", "user_oracle", "team_oracle"
SKILL_MD = "---\nname: oracle\ndescription: Compares requests\n---\nBody.\n"
SLACK = "gumloop_slack"
APPROVAL = {"action_request_id": "ar_1", "action": "accept"}
SHARE = {"type": "person", "email": "bo@example.com", "role": "viewer"}
FILE = {"file_name": "a.csv", "media_type": "text/csv"}
NOUL = {"type": "noul", "instructions": "Is it urgent?"}
COOKIE = {"name": "sid", "value": "not-a-real-session", "domain": ".github.com", "path": "/", "secure": True}
SdkCall = Callable[[AsyncGumloop], Awaitable[Any]]
AG, TRIGGER = {"agent_id": "ag_1"}, {"agent_id": "ag_1", "trigger_id": "tr_1"}


@dataclass
class Case:
    """One operation: the SDK's call, the proxy's arguments, and whether the proxy streams it."""

    operation: str
    sdk: SdkCall
    arguments: dict[str, Any]
    stream: bool = False


async def _drain(result: Awaitable[Any]) -> None:
    value = await result
    if hasattr(value, "__aiter__"):
        async for _ in value:
            pass


def _sync_plan(client: AsyncGumloop, organization_id: str) -> Any:
    """Sync.plan exists on the blocking client only: one with the async client's settings."""
    http = client._http
    blocking = Gumloop(
        api_key=KEY, user_id=USER, team_id=TEAM, base_url=str(http._client.base_url), timeout=10
    )
    try:
        return blocking.sync.plan(organization_id=organization_id)
    finally:
        blocking.close()


CASES = [
    Case("list_agents", lambda s: s.agents.list(search="x"), {"search": "x"}),
    Case(
        "create_agent",
        lambda s: s.agents.create(name="A", model_name="m", skill_ids=["sk_1"], folder_id="f"),
        {"name": "A", "model_name": "m", "skill_ids": ["sk_1"], "folder_id": "f"},
    ),
    Case("get_agent", lambda s: s.agents.retrieve("ag_1"), {"agent_id": "ag_1"}),
    Case(
        "update_agent",
        lambda s: s.agents.update("ag_1", description="d"),
        {"agent_id": "ag_1", "description": "d"},
    ),
    Case(
        "update_agent_skills",
        lambda s: s.agents.attach_skills("ag_1", ["sk_1"]),
        {"agent_id": "ag_1", "attach": ["sk_1"]},
    ),
    Case("list_agent_mcp_servers", lambda s: s.agents.list_mcp_servers("ag_1"), {"agent_id": "ag_1"}),
    Case(
        "attach_agent_mcp_server",
        lambda s: s.agents.attach_mcp_server("ag_1", "gumloop_slack", approval_mode="write"),
        {"agent_id": "ag_1", "server_id": "gumloop_slack", "config": {"approval_mode": "write"}},
    ),
    Case(
        "detach_agent_mcp_server",
        lambda s: s.agents.detach_mcp_server("ag_1", "gumloop_slack"),
        {"agent_id": "ag_1", "server_id": "gumloop_slack"},
    ),
    Case(
        "list_agent_versions",
        lambda s: s.agents.list_versions("ag_1", page_size=5),
        {"agent_id": "ag_1", "page_size": 5},
    ),
    Case(
        "get_agent_version",
        lambda s: s.agents.get_version("ag_1", "ver_1"),
        {"agent_id": "ag_1", "version_id": "ver_1"},
    ),
    Case("delete_agent", lambda s: s.agents.delete("ag_1"), {"agent_id": "ag_1"}),
    Case(
        "update_agent_abilities",
        lambda s: s.agents.update_abilities("ag_1", web_search={"enabled": True}, version=3),
        {"agent_id": "ag_1", "web_search": {"enabled": True}, "version": 3},
    ),
    Case(
        "set_agent_incognito",
        lambda s: s.agents.set_incognito("ag_1", True),
        {"agent_id": "ag_1", "enforced": True},
    ),
    Case("list_agent_knowledge_sources", lambda s: s.agents.list_knowledge_sources("ag_1"), AG),
    Case(
        "attach_agent_knowledge_source",
        lambda s: s.agents.attach_knowledge_source("ag_1", "conn_1", config={"mode": "denylist"}),
        {"agent_id": "ag_1", "connector_id": "conn_1", "config": {"mode": "denylist"}},
    ),
    Case(
        "detach_agent_knowledge_source",
        lambda s: s.agents.detach_knowledge_source("ag_1", "conn_1"),
        {"agent_id": "ag_1", "connector_id": "conn_1"},
    ),
    Case(
        "attach_agent_subagent",
        lambda s: s.agents.attach_subagent("ag_1", "ag_2"),
        {"agent_id": "ag_1", "subagent_id": "ag_2"},
    ),
    Case(
        "detach_agent_subagent",
        lambda s: s.agents.detach_subagent("ag_1", "ag_2"),
        {"agent_id": "ag_1", "subagent_id": "ag_2"},
    ),
    Case(
        "list_agent_triggers",
        lambda s: s.agents.list_triggers("ag_1", page_size=5, cursor="c"),
        {"agent_id": "ag_1", "page_size": 5, "cursor": "c"},
    ),
    Case(
        "create_agent_trigger",
        lambda s: s.agents.create_trigger("ag_1", type="schedule", prompt="p", cron_expression="0 9 * * *"),
        {"agent_id": "ag_1", "type": "schedule", "prompt": "p", "cron_expression": "0 9 * * *"},
    ),
    Case("get_agent_trigger", lambda s: s.agents.get_trigger("ag_1", "tr_1"), TRIGGER),
    Case(
        "update_agent_trigger",
        lambda s: s.agents.update_trigger("ag_1", "tr_1", enabled=False, name="n"),
        {"agent_id": "ag_1", "trigger_id": "tr_1", "enabled": False, "name": "n"},
    ),
    Case(
        "delete_agent_trigger",
        lambda s: s.agents.delete_trigger("ag_1", "tr_1"),
        {"agent_id": "ag_1", "trigger_id": "tr_1"},
    ),
    Case(
        "get_agent_trigger_webhook_url",
        lambda s: s.agents.get_trigger_webhook_url("ag_1", "tr_1"),
        {"agent_id": "ag_1", "trigger_id": "tr_1"},
    ),
    Case(
        "list_agent_trigger_runs",
        lambda s: s.agents.list_trigger_runs("ag_1", "tr_1", page_size=5, states=["failed", "completed"]),
        {"agent_id": "ag_1", "trigger_id": "tr_1", "page_size": 5, "state": "failed,completed"},
    ),
    Case(
        "get_agent_trigger_stats",
        lambda s: s.agents.get_trigger_stats("ag_1", "tr_1"),
        {"agent_id": "ag_1", "trigger_id": "tr_1"},
    ),
    Case("list_agent_trigger_operators", lambda s: s.agents.list_trigger_operators("ag_1"), AG),
    Case("list_agent_app_rules", lambda s: s.agents.list_app_rules("ag_1"), {"agent_id": "ag_1"}),
    Case(
        "list_sessions",
        lambda s: s.sessions.list("ag_1", state="completed", sort_order="newest"),
        {"agent_id": "ag_1", "state": "completed", "sort_order": "newest"},
    ),
    Case(
        "create_session",
        lambda s: s.sessions.create("ag_1", input="hi", name="n"),
        {"agent_id": "ag_1", "input": "hi", "name": "n"},
    ),
    Case("get_session", lambda s: s.sessions.retrieve("se_1"), {"session_id": "se_1"}),
    Case(
        "stream_session",
        lambda s: _drain(asyncio.sleep(0, s.sessions.resume_stream("se_1", "se_1:2"))),
        {"session_id": "se_1", "last_cursor": "se_1:2"},
        stream=True,
    ),
    Case(
        "send_session_message",
        lambda s: s.sessions.send("se_1", input="more"),
        {"session_id": "se_1", "input": "more"},
    ),
    Case("cancel_session", lambda s: s.sessions.cancel("se_1"), {"session_id": "se_1"}),
    Case(
        "rename_session", lambda s: s.sessions.update("se_1", name="n"), {"session_id": "se_1", "name": "n"}
    ),
    Case(
        "upload_session_file",
        lambda s: s.sessions.upload_file("se_1", "a.csv", b"a,b", media_type="text/csv"),
        {"session_id": "se_1", "file_name": "a.csv", "file_content": "YSxi", "media_type": "text/csv"},
    ),
    Case("list_session_queue", lambda s: s.sessions.list_queue("se_1"), {"session_id": "se_1"}),
    Case(
        "queue_session_message",
        lambda s: s.sessions.queue_message("se_1", "later"),
        {"session_id": "se_1", "input": "later"},
    ),
    Case(
        "edit_queued_session_message",
        lambda s: s.sessions.edit_queued_message("se_1", "qm_1", "edited"),
        {"session_id": "se_1", "queued_message_id": "qm_1", "input": "edited"},
    ),
    Case(
        "delete_queued_session_message",
        lambda s: s.sessions.delete_queued_message("se_1", "qm_1"),
        {"session_id": "se_1", "queued_message_id": "qm_1"},
    ),
    Case(
        "send_queued_session_message",
        lambda s: s.sessions.send_queued_message("se_1", "qm_1"),
        {"session_id": "se_1", "queued_message_id": "qm_1"},
    ),
    Case("get_session_access", lambda s: s.sessions.get_access("se_1"), {"session_id": "se_1"}),
    Case(
        "update_session_access",
        lambda s: s.sessions.update_access("se_1", share=[SHARE], link={"mode": "anyone"}),
        {"session_id": "se_1", "share": [SHARE], "link": {"mode": "anyone"}},
    ),
    Case(
        "stream_new_session",
        lambda s: _drain(asyncio.sleep(0, s.sessions.stream("ag_1", input="hi", name="n"))),
        {"agent_id": "ag_1", "input": "hi", "name": "n"},
        stream=True,
    ),
    Case(
        "stream_session_message",
        lambda s: _drain(
            asyncio.sleep(0, s.sessions.stream_message("se_1", input="more", attachments=[FILE]))
        ),
        {"session_id": "se_1", "input": "more", "attachments": [FILE]},
        stream=True,
    ),
    Case(
        "resolve_session_approvals",
        lambda s: s.sessions.resolve_approvals("se_1", approval_responses=[APPROVAL]),
        {"session_id": "se_1", "approval_responses": [APPROVAL]},
    ),
    Case(
        "list_artifacts",
        lambda s: s.artifacts.list("ag_1", session_id="se_1"),
        {"agent_id": "ag_1", "session_id": "se_1"},
    ),
    Case("get_artifact", lambda s: s.artifacts.download("ar_1"), {"artifact_id": "ar_1"}),
    Case("delete_artifact", lambda s: s.artifacts.delete("ar_1"), {"artifact_id": "ar_1"}),
    Case("rename_artifact", lambda s: s.artifacts.rename("ar_1", "n"), {"artifact_id": "ar_1", "name": "n"}),
    Case(
        "set_artifact_password",
        lambda s: s.artifacts.set_password("ar_1", "pw-oracle"),
        {"artifact_id": "ar_1", "password": "pw-oracle"},
    ),
    Case("list_artifact_versions", lambda s: s.artifacts.list_versions("ar_1"), {"artifact_id": "ar_1"}),
    Case("get_artifact_access", lambda s: s.artifacts.get_access("ar_1"), {"artifact_id": "ar_1"}),
    Case(
        "update_artifact_access",
        lambda s: s.artifacts.update_access("ar_1", remove=[{"type": "organization"}]),
        {"artifact_id": "ar_1", "remove": [{"type": "organization"}]},
    ),
    Case("list_skills", lambda s: s.skills.list(search_query="q"), {"search_query": "q"}),
    Case(
        "create_skill",
        lambda s: s.skills.create({"SKILL.md": SKILL_MD}),
        {"files": [{"filename": "SKILL.md", "content_text": SKILL_MD}]},
    ),
    Case(
        "update_skill",
        lambda s: s.skills.update("sk_1", {"SKILL.md": SKILL_MD}),
        {"skill_id": "sk_1", "files": [{"filename": "SKILL.md", "content_text": SKILL_MD}]},
    ),
    Case("delete_skill", lambda s: s.skills.delete("sk_1"), {"skill_id": "sk_1"}),
    Case("get_skill_download", lambda s: s.skills.download("sk_1"), {"skill_id": "sk_1"}),
    Case("get_skill_access", lambda s: s.skills.get_access("sk_1"), {"skill_id": "sk_1"}),
    Case(
        "update_skill_access",
        lambda s: s.skills.update_access("sk_1", share=[SHARE]),
        {"skill_id": "sk_1", "share": [SHARE]},
    ),
    Case(
        "get_skill_sync_plan",
        lambda s: asyncio.to_thread(_sync_plan, s, "org_1"),
        {"organization_id": "org_1"},
    ),
    Case("list_mcp_servers", lambda s: s.mcp.list_servers(), {}),
    Case("get_mcp_server", lambda s: s.mcp.get_server("gumloop_slack"), {"server_id": "gumloop_slack"}),
    Case("list_mcp_server_tools", lambda s: s.mcp.list_tools("gumloop_slack"), {"server_id": SLACK}),
    Case(
        "list_mcp_server_resources",
        lambda s: s.mcp.list_resources("gumloop_slack", cursor="c"),
        {"server_id": "gumloop_slack", "cursor": "c"},
    ),
    Case(
        "read_mcp_server_resource",
        lambda s: s.mcp.get_resource("gumloop_slack", "u://1"),
        {"server_id": "gumloop_slack", "uri": "u://1"},
    ),
    Case("list_mcp_server_prompts", lambda s: s.mcp.list_prompts("gumloop_slack"), {"server_id": SLACK}),
    Case(
        "get_mcp_server_prompt",
        lambda s: s.mcp.get_prompt("gumloop_slack", "summarise", {"channel": "c"}),
        {"server_id": "gumloop_slack", "name": "summarise", "arguments": {"channel": "c"}},
    ),
    Case(
        "call_mcp_tools",
        lambda s: s.mcp.execute("gumloop_slack", "slack_send_message", {"text": "hi"}, ref="r1"),
        {"calls": [{"ref": "r1", "server_id": "gumloop_slack", "tool_name": "slack_send_message",
                    "arguments": {"text": "hi"}}]},
    ),
    Case("list_mcp_server_accounts", lambda s: s.mcp.list_accounts("gumloop_slack"), {"server_id": SLACK}),
    Case(
        "create_chat_completion",
        lambda s: s.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]),
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    ),
    Case("list_models", lambda s: s.models.list(), {}),
    # The CLI routes with the account's team in the body (models route --team-id): so does the proxy.
    Case(
        "route_model",
        lambda s: s.models.route(input="Plan a launch", models=["m"], agent={"name": "A"}, team_id=TEAM),
        {"input": "Plan a launch", "models": ["m"], "agent": {"name": "A"}},
    ),
    Case(
        "create_decision",
        lambda s: s.decisions.create(model="m", state="s", questions={"q": NOUL}),
        {"model": "m", "state": "s", "questions": {"q": NOUL}},
    ),
    Case(
        "query_wiki",
        lambda s: s.wiki.query(type="project", entity_key="k"),
        {"type": "project", "entity_key": "k"},
    ),
    Case("list_teams", lambda s: s.teams.list(), {}),
    Case("search_brain", lambda s: s.brain.search("q", limit=3), {"query": "q", "limit": 3}),
    Case(
        "list_brain_sources",
        lambda s: s.brain.list_sources(scope="team", source_type="notion", page_size=5),
        {"scope": "team", "source_type": "notion", "page_size": 5},
    ),
    Case(
        "create_brain_source",
        lambda s: s.brain.create_source("Policies", scope="personal", require_approval=True),
        {"name": "Policies", "scope": "personal", "require_approval": True},
    ),
    Case("get_brain_source", lambda s: s.brain.get_source("bs_1"), {"source_id": "bs_1"}),
    Case("delete_brain_source", lambda s: s.brain.delete_source("bs_1"), {"source_id": "bs_1"}),
    Case("sync_brain_source", lambda s: s.brain.sync_source("bs_1"), {"source_id": "bs_1"}),
    Case(
        "list_brain_sync_runs",
        lambda s: s.brain.list_sync_runs("bs_1", page_size=5, cursor="c"),
        {"source_id": "bs_1", "page_size": 5, "cursor": "c"},
    ),
    Case(
        "list_brain_source_issues",
        lambda s: s.brain.list_source_issues("bs_1", page_size=5),
        {"source_id": "bs_1", "page_size": 5},
    ),
    Case(
        "list_brain_source_children",
        lambda s: s.brain.list_source_children("bs_1", parent_id="doc_1", query="q"),
        {"source_id": "bs_1", "parent_id": "doc_1", "query": "q"},
    ),
    Case("get_brain_source_estimate", lambda s: s.brain.get_estimate("bs_1"), {"source_id": "bs_1"}),
    Case("approve_brain_source", lambda s: s.brain.approve_source("bs_1"), {"source_id": "bs_1"}),
    Case(
        "list_brain_files",
        lambda s: s.brain.list_files("bs_1", page_size=5),
        {"source_id": "bs_1", "page_size": 5},
    ),
    Case(
        "upload_brain_files",
        lambda s: s.brain.upload_files("bs_1", {"a.txt": "hi"}),
        {"source_id": "bs_1", "files": [{"filename": "a.txt", "content_text": "hi"}]},
    ),
    Case(
        "delete_brain_file",
        lambda s: s.brain.delete_file("bs_1", "bf_1"),
        {"source_id": "bs_1", "file_id": "bf_1"},
    ),
    Case(
        "list_evaluations",
        lambda s: s.agents.list_evaluations("ag_1", grade="pass"),
        {"agent_id": "ag_1", "grade": "pass"},
    ),
    Case(
        "get_evaluation",
        lambda s: s.agents.get_evaluation("ag_1", "ev_1"),
        {"agent_id": "ag_1", "evaluation_id": "ev_1"},
    ),
    Case(
        "get_evaluation_metrics",
        lambda s: s.agents.get_evaluation_metrics("ag_1", days=7),
        {"agent_id": "ag_1", "days": 7},
    ),
    Case("get_evaluation_config", lambda s: s.agents.get_evaluation_config("ag_1"), {"agent_id": "ag_1"}),
    Case(
        "update_evaluation_config",
        lambda s: s.agents.update_evaluation_config("ag_1", frequency="debounced"),
        {"agent_id": "ag_1", "frequency": "debounced"},
    ),
    Case("get_agent_evaluation_options", lambda s: s.agents.get_evaluation_options(), {}),
    Case(
        "run_agent_evaluations",
        lambda s: s.agents.run_evaluations("ag_1", session_ids=["se_1"], dry_run=True),
        {"agent_id": "ag_1", "session_ids": ["se_1"], "dry_run": True},
    ),
    Case("list_organizations", lambda s: s.organizations.list(), {}),
    Case("get_evaluation_options", lambda s: s.evaluations.options(), {}),
    Case(
        "list_organization_evaluations",
        lambda s: s.evaluations.list("org_1", page_size=5),
        {"organization_id": "org_1", "page_size": 5},
    ),
    Case(
        "create_organization_evaluation",
        lambda s: s.evaluations.create(organization_id="org_1", name="n", config={"frequency": "daily"}),
        {"organization_id": "org_1", "name": "n", "config": {"frequency": "daily"}},
    ),
    Case("get_organization_evaluation", lambda s: s.evaluations.retrieve("ev_1"), {"evaluation_id": "ev_1"}),
    Case(
        "update_organization_evaluation",
        lambda s: s.evaluations.update("ev_1", description="d", enabled=True),
        {"evaluation_id": "ev_1", "description": "d", "enabled": True},
    ),
    Case("delete_organization_evaluation", lambda s: s.evaluations.delete("ev_1"), {"evaluation_id": "ev_1"}),
    Case(
        "set_organization_evaluation_targets",
        lambda s: s.evaluations.set_targets("ev_1", [{"type": "organization"}]),
        {"evaluation_id": "ev_1", "targets": [{"type": "organization"}]},
    ),
    # The SDK always sends dry_run (False by default).
    Case(
        "run_organization_evaluation",
        lambda s: s.evaluations.run("ev_1", ["se_1"]),
        {"evaluation_id": "ev_1", "session_ids": ["se_1"], "dry_run": False},
    ),
    Case(
        "list_organization_evaluation_results",
        lambda s: s.evaluations.list_results("ev_1", grade="pass", status="completed", page_size=5),
        {"evaluation_id": "ev_1", "grade": "pass", "status": "completed", "page_size": 5},
    ),
    Case(
        "get_organization_evaluation_result",
        lambda s: s.evaluations.get_result("ev_1", "er_1"),
        {"evaluation_id": "ev_1", "result_id": "er_1"},
    ),
    Case(
        "get_organization_evaluation_metrics",
        lambda s: s.evaluations.metrics("ev_1", days=7),
        {"evaluation_id": "ev_1", "days": 7},
    ),
    Case("list_browser_profiles", lambda s: s.browser_profiles.list(), {}),
    Case("create_browser_profile", lambda s: s.browser_profiles.create("Work"), {"name": "Work"}),
    Case("get_browser_profile", lambda s: s.browser_profiles.get("bp_1"), {"profile_id": "bp_1"}),
    Case(
        "update_browser_profile",
        lambda s: s.browser_profiles.update("bp_1", name="n", is_default=True),
        {"profile_id": "bp_1", "name": "n", "is_default": True},
    ),
    Case("delete_browser_profile", lambda s: s.browser_profiles.delete("bp_1"), {"profile_id": "bp_1"}),
    Case(
        "import_browser_profile_cookies",
        lambda s: s.browser_profiles.import_cookies("bp_1", url="https://github.com", cookies=[COOKIE]),
        {"profile_id": "bp_1", "url": "https://github.com", "cookies": [COOKIE]},
    ),
]  # fmt: skip
# Operations the legacy flows client (GumloopClient, blocking) implements.
FLOW_CASES = {
    "start_pipeline": {"saved_item_id": "si_1", "pipeline_inputs": [{"input_name": "week", "value": "42"}]},
    "get_pl_run": {"run_id": "run_1"},
}


@pytest.fixture
async def gumloop() -> AsyncIterator[CapturingGumloop]:
    """The capturing stand-in."""
    stand_in = CapturingGumloop()
    await stand_in.start()
    try:
        yield stand_in
    finally:
        await stand_in.close()


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    """The real proxy gRPC service on loopback."""
    settings = ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path, store="sqlite", log_json=False)
    server = await create_server(settings)
    async with server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.ProxyServiceStub(channel)


@pytest.fixture
async def account_id(stub: pb_grpc.ProxyServiceStub, gumloop: CapturingGumloop) -> str:
    """An account for the stand-in, with the same user, team and key as the SDK's client."""
    account = pb.IntegratedAccount(
        display_name="oracle",
        user_id=USER,
        team_id=TEAM,
        api_base_url=gumloop.base_url + "/api/v1",
        stream_base_url=gumloop.base_url + "/ws/api/v1",
    )
    response = await stub.CreateIntegratedAccount(
        pb.CreateIntegratedAccountRequest(
            account=account, credential=pb.Credential(kind=pb.CREDENTIAL_KIND_API_KEY, secret=KEY)
        ),
        timeout=10,
    )
    return str(response.account.id)


@pytest.fixture
async def sdk(gumloop: CapturingGumloop) -> AsyncIterator[AsyncGumloop]:
    """The official async client at the stand-in."""
    async with AsyncGumloop(
        api_key=KEY,
        user_id=USER,
        team_id=TEAM,
        base_url=gumloop.base_url + "/api/v1",
        stream_base_url=gumloop.base_url + "/ws/api/v1",
        timeout=10,
    ) as client:
        yield client


async def _through_proxy(
    stub: pb_grpc.ProxyServiceStub, account_id: str, operation: str, arguments: dict[str, Any], stream: bool
) -> None:
    """Make the call; its answer (the stand-in's canned one) does not matter here."""
    with _quiet():
        if stream:
            call = stub.StreamOperation(
                pb.StreamOperationRequest(
                    account_id=account_id, operation=operation, arguments_json=json.dumps(arguments)
                ),
                timeout=10,
            )
            async for _ in call:
                pass
        else:
            await stub.InvokeOperation(
                pb.InvokeOperationRequest(
                    account_id=account_id, operation=operation, arguments_json=json.dumps(arguments)
                ),
                timeout=10,
            )


class _quiet:
    """Ignore what a call raises about the canned answer (the request is what is compared)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        return kind is not None and issubclass(kind, Exception)


async def _first(
    gumloop: CapturingGumloop, make: Callable[[], Awaitable[None]], like: Captured | None = None
) -> Captured:
    """The first request ``make`` sent (the first to ``like``'s method and path when there is one: the
    proxy may look something up first, e.g. a flow's inputs before start_pipeline)."""
    before = len(gumloop.requests)
    await make()
    sent = gumloop.requests[before:]
    assert sent, "no request reached the stand-in"
    if like is not None:
        return next((r for r in sent if (r.method, r.path) == (like.method, like.path)), sent[0])
    return sent[0]


async def _sdk_call(sdk: AsyncGumloop, call: SdkCall) -> None:
    with _quiet():
        await _drain(call(sdk))


def _differences(ours: Captured, theirs: Captured) -> dict[str, tuple[Any, Any]]:
    a, b = ours.shape(), theirs.shape()
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


# Differences that are the catalog's (services/gumloop_proxy/catalog.json, owned elsewhere), each with why;
# the case is xfail(strict) so it turns red when the catalog is fixed and the entry must go.
CATALOG_BUGS: dict[str, str] = {}


@pytest.mark.parametrize("case", CASES, ids=[c.operation for c in CASES])
async def test_the_proxy_sends_the_request_the_sdk_sends(
    case: Case,
    sdk: AsyncGumloop,
    stub: pb_grpc.ProxyServiceStub,
    account_id: str,
    gumloop: CapturingGumloop,
    request: pytest.FixtureRequest,
) -> None:
    """Method, path, query keys, body keys, Authorization, x-auth-key and team_id placement agree."""
    if case.operation in CATALOG_BUGS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=CATALOG_BUGS[case.operation]))
    theirs = await _first(gumloop, lambda: _sdk_call(sdk, case.sdk))
    ours = await _first(
        gumloop, lambda: _through_proxy(stub, account_id, case.operation, case.arguments, case.stream), theirs
    )
    assert _differences(ours, theirs) == {}


@pytest.mark.parametrize("operation", sorted(FLOW_CASES))
async def test_the_proxy_sends_the_flow_requests_the_legacy_client_sends(
    operation: str, stub: pb_grpc.ProxyServiceStub, account_id: str, gumloop: CapturingGumloop
) -> None:
    """GumloopClient.run_flow's start_pipeline and get_run_status's get_pl_run, as the proxy sends them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        flows = GumloopClient(api_key=KEY, user_id=USER)
    flows.base_url = gumloop.base_url + "/api/v1"

    def blocking() -> Any:
        if operation == "start_pipeline":
            return flows.run_flow("si_1", {"week": "42"}, poll_interval=0.01)
        return flows.get_run_status("run_1")

    async def legacy() -> None:
        await asyncio.to_thread(blocking)

    try:
        theirs = await _first(gumloop, legacy)
    finally:
        flows.close()
    ours = await _first(
        gumloop, lambda: _through_proxy(stub, account_id, operation, FLOW_CASES[operation], False), theirs
    )
    # The legacy client knows no team and sends no x-auth-key (the v1 SDK, which the proxy follows, sends
    # both, and Gumloop's flow endpoints take them): those two aside, the requests agree.
    ours.query.pop("team_id", None)
    ours.headers.pop("x-auth-key", None)
    assert _differences(ours, theirs) == {}
