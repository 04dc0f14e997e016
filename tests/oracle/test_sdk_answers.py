"""ANSWERS: Gumloop's official SDK drives the emulator through every resource both offer, so every answer
must parse into the SDK's typed models (a pydantic ValidationError fails the test), and every JSON answer
the clients received must validate against the OpenAPI response schema Gumloop documents for it."""

from __future__ import annotations

import asyncio
import io
import warnings
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gumloop import AsyncGumloop, Gumloop, GumloopClient
from gumloop.errors import APIStatusError
from gumloop.types import McpToolCallRequest

from gumloop_mcp.emulator import RunningEmulator

from . import openapi
from .conftest import Answers, FakeTime, ticking

SKILL = b"---\nname: oracle-skill\ndescription: Checks answers\n---\nSteps.\n"


@pytest.fixture
async def raw(emulator: RunningEmulator, answers: Answers) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client for the documented endpoints the SDK has no method for (the older flow, file and
    organization endpoints), recorded too."""
    headers = {"Authorization": f"Bearer {emulator.api_key}", "x-auth-key": emulator.user_id}
    async with httpx.AsyncClient(
        base_url=emulator.api_base_url,
        headers=headers,
        timeout=10,
        event_hooks={"response": [answers.hook]},
    ) as client:
        yield client


async def _agents_skills_and_versions(sdk: AsyncGumloop) -> str:
    assert (await sdk.teams.list()).teams
    assert (await sdk.models.list()).model_groups
    assert {a.id for a in (await sdk.agents.list()).agents} >= {"agent_research", "agent_support"}
    skill = (await sdk.skills.create({"SKILL.md": SKILL})).skill
    created = (
        await sdk.agents.create(
            name="Oracle", model_name="anthropic/claude-sonnet-4", skill_ids=[skill.id], folder_id="folder_1"
        )
    ).agent
    assert created.skill_ids == [skill.id] and created.folder_id == "folder_1"
    aid = created.id
    assert (await sdk.agents.retrieve(aid)).agent.name == "Oracle"
    assert (await sdk.agents.update(aid, system_prompt="Check everything.")).agent.system_prompt
    versions = (await sdk.agents.list_versions(aid)).versions
    assert [v.major_version for v in versions] == [2, 1]
    detail = await sdk.agents.get_version(aid, versions[0].id)
    assert detail.changes is not None and detail.changes.base_version_id == versions[1].id
    assert (await sdk.agents.detach_skills(aid, skill.id)).detached == [skill.id]
    assert (await sdk.agents.attach_skills(aid, [skill.id, "skill_csv_cleaner"])).attached
    assert {s.id for s in (await sdk.agents.list_skills(aid)).skills} == {skill.id, "skill_csv_cleaner"}
    attached = await sdk.agents.attach_mcp_server(aid, "gumloop_notion", approval_mode="off")
    assert attached.created and attached.mcp_server is not None
    assert [s.server_id for s in (await sdk.agents.list_mcp_servers(aid)).mcp_servers] == ["gumloop_notion"]
    assert (await sdk.agents.detach_mcp_server(aid, "gumloop_notion")).detached
    await sdk.agents.attach_mcp_server(aid, "gumloop_slack", approval_mode="write")
    listed = await sdk.skills.list(search_query="oracle")
    assert [s.id for s in listed.skills] == [skill.id]
    updated = (await sdk.skills.update(skill.id, {"SKILL.md": SKILL.replace(b"Steps", b"More")})).skill
    assert updated.major_version == 2
    download = await sdk.skills.download(skill.id)
    assert download.model_dump()
    spare = (await sdk.skills.create({"SKILL.md": SKILL})).skill  # same name: allowed
    assert (await sdk.skills.delete(spare.id)).model_dump()
    return aid


async def _mcp(sdk: AsyncGumloop) -> None:
    servers = (await sdk.mcp.list_servers()).servers
    assert {"gumloop_gmail", "gumloop_slack", "gumloop_jira"} <= {s.server_id for s in servers}
    server = (await sdk.mcp.get_server("gumloop_slack")).server
    assert (
        server.allowed_tool_call_ids and "gumloop_slack__slack_send_message" in server.allowed_tool_call_ids
    )
    assert (await sdk.mcp.list_tools("gumloop_slack")).tools
    resources = await sdk.mcp.list_resources("gumloop_slack")
    assert resources.model_dump()["resources"]
    uri = resources.model_dump()["resources"][0]["uri"]
    assert (await sdk.mcp.get_resource("gumloop_slack", uri)).model_dump()["contents"]
    assert (await sdk.mcp.list_prompts("gumloop_slack")).model_dump()["prompts"]
    prompt = await sdk.mcp.get_prompt("gumloop_slack", "summarise", {"channel": "general"})
    assert prompt.model_dump()["messages"]
    one = await sdk.mcp.execute("gumloop_slack", "slack_send_message", {"channel": "c", "text": "hi"})
    assert [r.status for r in one.results] == ["success"]
    calls = [
        McpToolCallRequest(server_id="gumloop_notion", tool_name="notion_search", arguments={"query": "q"}),
        {"server_id": "gumloop_gmail", "tool_name": "gmail_send", "arguments": {}},
    ]
    many = await sdk.mcp.execute_many(calls)
    assert [r.status for r in many.results] == ["success", "unauthenticated"]


async def _sessions_and_artifacts(sdk: AsyncGumloop, fake_time: FakeTime, aid: str) -> None:
    idle = await sdk.sessions.create("agent_support")
    assert idle.session.state == "idle"
    started = await sdk.sessions.send(idle.session.id, input="Summarise the week")
    assert started.session.state == "processing"
    fake_time.now += 10
    done = (await sdk.sessions.retrieve(idle.session.id)).session
    assert done.state == "completed" and done.messages[-1].role == "assistant"
    events = [e async for e in sdk.sessions.resume_stream(idle.session.id, f"{idle.session.id}:0")]
    assert events[-1].type == "finish"
    stale = [e async for e in sdk.sessions.resume_stream(idle.session.id, "sess_other:3")]
    assert [e.type for e in stale] == ["finish"] and stale[0].finish_reason == "not_resumable"
    busy = await sdk.sessions.create("agent_support", input="Work on this")
    assert (await sdk.sessions.cancel(busy.session.id)).session.state == "failed"
    listed = await sdk.sessions.list("agent_support", sort_order="newest")
    assert {s.id for s in listed.sessions} >= {idle.session.id, busy.session.id}
    # A session waiting for a human, answered through the SDK.
    paused = await sdk.sessions.create(aid, input="Post the summary to Slack")
    fake_time.now += 10
    waiting = (await sdk.sessions.retrieve(paused.session.id)).session
    assert waiting.state == "approval_required" and waiting.pending_approvals
    ar = waiting.pending_approvals[0].action_request_id
    assert ar is not None
    resolved = await sdk.sessions.resolve_approvals(
        paused.session.id, approval_responses=[{"action_request_id": ar, "action": "accept"}]
    )
    assert [r.outcome for r in resolved.results] == ["accepted"]
    fake_time.now += 10
    assert (await sdk.sessions.retrieve(paused.session.id)).session.state == "completed"
    await _streams(sdk, fake_time, aid)
    artifacts = (await sdk.artifacts.list("agent_support", session_id=idle.session.id)).artifacts
    assert artifacts
    link = await sdk.artifacts.download(artifacts[0].id)
    assert link.download_url.startswith("http://127.0.0.1:")
    await _session_extras(sdk, fake_time)
    await _artifact_extras(sdk, artifacts[-1].id)


async def _streams(sdk: AsyncGumloop, fake_time: FakeTime, aid: str) -> None:
    """The SDK's streamed create and send go to the stream host; streamed approvals continue a pause."""
    stop = asyncio.Event()
    ticker = asyncio.create_task(ticking(fake_time, stop))
    try:
        created = [e async for e in sdk.sessions.stream("agent_support", input="Stream it")]
        assert [e.type for e in created] == ["user-message", "text-delta", "finish"]
        sid = created[-1].stream_cursor.split(":")[0] if created[-1].stream_cursor else ""
        more = [e async for e in sdk.sessions.stream_message(sid, input="And more")]
        assert [e.type for e in more] == ["user-message", "text-delta", "finish"]
        paused = [e async for e in sdk.sessions.stream(aid, input="Post it")]
        assert paused[-1].data["state"] == "approval_required"
        ar = paused[-1].data["pending_approvals"][0]["action_request_id"]
        psid = paused[-1].stream_cursor.split(":")[0] if paused[-1].stream_cursor else ""
        answer = [{"action_request_id": ar, "action": "reject", "reason": "no"}]
        after = [e async for e in sdk.sessions.stream_message(psid, approval_responses=answer)]
        assert [e.type for e in after] == ["text-delta", "finish"]
        assert after[-1].data == {"state": "completed", "reason": "rejected"}
    finally:
        stop.set()
        await ticker


async def _session_extras(sdk: AsyncGumloop, fake_time: FakeTime) -> None:
    """Rename, files, the message queue and sharing of a session."""
    sid = (await sdk.sessions.create("agent_support")).session.id
    assert (await sdk.sessions.update(sid, name="Renamed")).session.name == "Renamed"
    uploaded = await sdk.sessions.upload_file(sid, "notes.csv", b"a,b\n1,2\n")
    assert (uploaded.file_name, uploaded.media_type, uploaded.size) == ("notes.csv", "text/csv", 8)
    attached = [{"file_name": "notes.csv", "media_type": "text/csv"}]
    assert (await sdk.sessions.send(sid, input="Read it", attachments=attached)).session.state == "processing"
    first = await sdk.sessions.queue_message(sid, "Then summarise")
    assert first.queued_message.state == "queued" and [m.position for m in first.queue] == [1]
    second = await sdk.sessions.queue_message(sid, "And translate")
    edited = await sdk.sessions.edit_queued_message(sid, second.queued_message.id, "And translate to French")
    assert edited.queued_message.input == "And translate to French"
    assert [m.id for m in (await sdk.sessions.list_queue(sid)).queue] == [
        first.queued_message.id,
        second.queued_message.id,
    ]
    remaining = await sdk.sessions.delete_queued_message(sid, first.queued_message.id)
    assert [(m.id, m.position) for m in remaining.queue] == [(second.queued_message.id, 1)]
    now = await sdk.sessions.send_queued_message(sid, second.queued_message.id)
    assert now.session.state == "processing" and now.session.messages[-1].content == "And translate to French"
    assert (await sdk.sessions.list_queue(sid)).queue == []
    later = await sdk.sessions.queue_message(sid, "Finally this")
    fake_time.now += 10  # the turn ends; the queued message goes next
    session = (await sdk.sessions.retrieve(sid)).session
    assert [m.content for m in session.messages if m.role == "user"][-1] == later.queued_message.input
    assert (await sdk.sessions.list_queue(sid)).queue == []
    assert (await sdk.sessions.get_access(sid)).access.grants_visibility == "private"
    shared = await sdk.sessions.update_access(
        sid, share=[{"type": "person", "email": "bo@example.com", "role": "viewer"}], link={"mode": "anyone"}
    )
    assert shared.notified == ["bo@example.com"] and shared.access.link_role == "viewer"


async def _artifact_extras(sdk: AsyncGumloop, artifact_id: str) -> None:
    """Versions, rename, sharing with a password, delete."""
    versions = (await sdk.artifacts.list_versions(artifact_id)).versions
    assert [v.is_current for v in versions] == [True]
    assert (await sdk.artifacts.rename(artifact_id, "Q3 summary")).name == "Q3 summary"
    assert (await sdk.artifacts.set_password(artifact_id, "correct horse")).success
    changed = await sdk.artifacts.update_access(artifact_id, link={"mode": "password"})
    assert changed.access.password_protected and "correct horse" not in changed.model_dump_json()
    assert (await sdk.artifacts.get_access(artifact_id)).access.grants_visibility == "link"
    assert (await sdk.artifacts.delete(artifact_id)).deleted


async def _skill_access_sync_and_mcp_accounts(
    emulator: RunningEmulator, sdk: AsyncGumloop, answers: Answers
) -> None:
    """Skill sharing, the sync plan (the blocking client: only it has .sync) and MCP accounts."""
    skill_id = (await sdk.skills.list()).skills[0].id
    team = await sdk.skills.update_access(
        skill_id, share=[{"type": "team", "team_id": "t_1", "role": "editor"}]
    )
    assert [t.team_id for t in team.access.teams] == ["t_1"]
    assert (await sdk.skills.get_access(skill_id)).access.grants_visibility == "shared"
    client = Gumloop(
        api_key=emulator.api_key, user_id=emulator.user_id, base_url=emulator.api_base_url, timeout=10
    )
    client._http._client.event_hooks["response"].append(answers.sync_hook)
    try:
        plan = await asyncio.to_thread(client.sync.plan)
    finally:
        client.close()
    assert plan.skill_count == plan.manifest.skill_count > 0
    accounts = await sdk.mcp.list_accounts("gumloop_slack")
    assert [a.is_default for a in accounts.accounts] == [True]
    assert (await sdk.mcp.list_accounts("gumloop_gmail")).accounts == []


async def _evaluations_chat_brain(sdk: AsyncGumloop) -> None:
    config = (await sdk.agents.get_evaluation_config("agent_research")).config
    assert config.frequency == "debounced"
    patched = await sdk.agents.update_evaluation_config(
        "agent_research", frequency="every", tags=[{"name": "billing", "description": "Invoices"}]
    )
    assert patched.config.frequency == "every"
    evaluations = (await sdk.agents.list_evaluations("agent_research")).model_dump()["evaluations"]
    assert evaluations
    one = await sdk.agents.get_evaluation("agent_research", evaluations[0]["evaluation_id"])
    assert one.model_dump()
    assert (await sdk.agents.get_evaluation_metrics("agent_research", days=30)).model_dump()["grades"]
    chat = await sdk.chat.completions.create(
        model="anthropic/claude-sonnet-4", messages=[{"role": "user", "content": "Hi"}]
    )
    assert "Hi" in chat.model_dump_json()
    chunks = [
        c
        async for c in await sdk.chat.completions.create(
            model="anthropic/claude-sonnet-4", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    ]
    # The SDK drops chunks it cannot parse: every chunk sent ("Emulated answer to: Hi", then the last) counts.
    assert len(chunks) == 5 and chunks[-1].choices[0].finish_reason == "stop"
    assert (await sdk.brain.search("clearbit")).results


async def _flows(emulator: RunningEmulator, fake_time: FakeTime, answers: Answers) -> None:
    """The legacy flows client (blocking) in a thread while the clock moves on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        flows = GumloopClient(api_key=emulator.api_key, user_id=emulator.user_id)
    flows.base_url = emulator.api_base_url
    flows._client.event_hooks["response"].append(answers.sync_hook)
    stop = asyncio.Event()
    ticker = asyncio.create_task(ticking(fake_time, stop))
    try:
        outputs = await asyncio.to_thread(
            flows.run_flow, "si_weekly_report", {"week": "42"}, poll_interval=0.01, timeout=10
        )
    finally:
        stop.set()
        await ticker
        flows.close()
    assert outputs["output"] == "Weekly report finished"


async def _older_endpoints(raw: httpx.AsyncClient) -> None:
    user = {"user_id": "emu_user_1"}
    assert (await raw.get("/list_saved_items", params=user)).status_code == 200
    assert (await raw.get("/list_workbooks", params=user)).status_code == 200
    assert (
        await raw.get("/get_inputs", params={**user, "saved_item_id": "si_weekly_report"})
    ).status_code == 200
    runs = await raw.get("/get_plrun_saved_item_map", params={**user, "saved_item_id": "si_lead_enrichment"})
    assert runs.status_code == 200
    body = {
        **user,
        "saved_item_id": "si_weekly_report",
        "pipeline_inputs": [{"input_name": "week", "value": "1"}],
    }
    run = (await raw.post("/start_pipeline", json=body)).json()
    assert (await raw.post("/kill_pipeline", json={**user, "run_id": run["run_id"]})).status_code == 200
    upload = {**user, "file_name": "a.txt", "file_content": "aGk="}
    assert (await raw.post("/upload_file", json=upload)).status_code == 200
    files = {**user, "files": [{"file_name": "b.txt", "file_content": "aGk="}]}
    assert (await raw.post("/upload_files", json=files)).status_code == 200
    archive = await raw.post(
        "/download_files", json={**user, "run_id": run["run_id"], "file_names": ["a.txt", "b.txt"]}
    )
    assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    org = {**user, "organization_id": "org_emu_1"}
    window = {"start_time": "2000-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z"}
    assert (await raw.get("/get_audit_logs", params={**org, **window})).status_code == 200
    member = {**org, "action": "add", "user_email": "n@example.com"}
    assert (
        await raw.post("/manage_workspace_users", json={**member, "workspace_id": "ws_1"})
    ).status_code == 200
    assert (
        await raw.post("/manage_permission_group_users", json={**member, "group_id": "g_1"})
    ).status_code == 200
    export = {**user, "export_fields": ["run_id"], "start_date": "2000-01-01", "end_date": "2100-01-01"}
    started = await raw.post("/export_data", json={**export, "include_all_workspaces": True})
    assert started.status_code == 200
    status = await raw.get(
        "/export_status", params={**user, "data_export_id": started.json()["data_export_id"]}
    )
    assert status.status_code == 200


async def test_the_sdk_reads_every_answer_and_every_answer_matches_the_documents(
    emulator: RunningEmulator,
    fake_time: FakeTime,
    answers: Answers,
    sdk: AsyncGumloop,
    raw: httpx.AsyncClient,
) -> None:
    """Every resource the SDK and the emulator share, then the older endpoints; every JSON answer checked
    against the documents, and every documented operation with a JSON answer schema exercised."""
    aid = await _agents_skills_and_versions(sdk)
    await _mcp(sdk)
    await _sessions_and_artifacts(sdk, fake_time, aid)
    await _evaluations_chat_brain(sdk)
    await _skill_access_sync_and_mcp_accounts(emulator, sdk, answers)
    await _flows(emulator, fake_time, answers)
    await _older_endpoints(raw)

    found = [p for a in answers.items for p in openapi.problems(a.method, a.path, a.status, a.body)]
    assert found == [], "\n".join(found)
    exercised: set[tuple[str, str]] = set()
    for a in answers.items:
        op = openapi.operation_for(a.method, openapi.route_of(a.path))
        if op is not None and a.status < 300:
            exercised.add((op.method, op.template))
    documented = {(op.method, op.template) for op in openapi.operations() if op.schemas}
    assert documented - exercised == set()


def _documented_schema_count() -> Any:
    return sum(1 for op in openapi.operations() if op.schemas)


def test_the_documents_are_valid_openapi_and_describe_answers() -> None:
    """The documents read as valid OpenAPI 3.0 (openapi-spec-validator), with 47 answer schemas."""
    from openapi_spec_validator import validate

    if not openapi.DOCS.is_dir():
        pytest.skip(f"Gumloop's OpenAPI documents are not beside the repository ({openapi.DOCS})")
    for name, doc in openapi.documents().items():
        validate(doc), name  # raises on an invalid document
    assert _documented_schema_count() >= 45


async def _agent_settings(sdk: AsyncGumloop) -> str:
    """Abilities, incognito, knowledge sources, subagents and app rules; then a spare agent deleted."""
    aid = (await sdk.agents.create(name="Settings", model_name="anthropic/claude-sonnet-4")).agent.id
    agent = (await sdk.agents.retrieve(aid)).agent
    abilities = await sdk.agents.update_abilities(
        aid, web_search={"enabled": True, "provider": "exa"}, ask_question={"enabled": False}
    )
    assert abilities.abilities.ask_question is not None and not abilities.abilities.ask_question.enabled
    assert abilities.abilities.web_search is not None and abilities.abilities.web_search.provider == "exa"
    assert abilities.version is not None and abilities.version >= 1
    assert (await sdk.agents.set_incognito(aid, True)).agent.incognito.enforced
    assert agent.incognito.enforced is False
    whole = await sdk.agents.attach_knowledge_source(aid, "conn_notion")
    assert whole.outcome == "attached" and whole.knowledge_source.config is None
    rule = {"type": "container", "id": "space_1", "name": "Handbook"}
    scoped = await sdk.agents.attach_knowledge_source(
        aid, "conn_notion", config={"mode": "include_only", "inclusions": [rule]}
    )
    assert scoped.outcome == "updated" and scoped.knowledge_source.config is not None
    listed = (await sdk.agents.list_knowledge_sources(aid)).knowledge_sources
    assert [s.connector_id for s in listed] == ["conn_notion"]
    assert (await sdk.agents.detach_knowledge_source(aid, "conn_notion")).detached
    assert not (await sdk.agents.detach_knowledge_source(aid, "conn_notion")).detached
    attached = await sdk.agents.attach_subagent(aid, "agent_research")
    assert attached.subagent_ids == ["agent_research"] and attached.changed
    assert not (await sdk.agents.attach_subagent(aid, "agent_research")).changed
    assert (await sdk.agents.detach_subagent(aid, "agent_research")).subagent_ids == []
    rules = (await sdk.agents.list_app_rules("agent_support")).app_rules
    assert [r.server_id for r in rules] == ["gumloop_slack"]
    assert (await sdk.agents.list_app_rules(aid)).app_rules == []
    deleted = await sdk.agents.delete(aid)
    assert deleted.deleted and deleted.agent_id == aid
    return aid


async def _triggers(sdk: AsyncGumloop) -> None:
    """Every trigger call: the seeded schedule's runs and stats, a webhook's URL, an integration trigger."""
    seeded = (await sdk.agents.list_triggers("agent_support")).triggers
    assert [t.type for t in seeded] == ["schedule"] and seeded[0].webhook_url is None
    runs = (await sdk.agents.list_trigger_runs("agent_support", seeded[0].id)).items
    assert [r.state for r in runs] == ["failed", "completed", "completed"]
    failed = await sdk.agents.list_trigger_runs("agent_support", seeded[0].id, states=["failed"])
    assert [r.state for r in failed.items] == ["failed"]
    stats = await sdk.agents.get_trigger_stats("agent_support", seeded[0].id)
    assert stats.run_count == 3 and stats.total_credits == 4.5
    hook = (await sdk.agents.create_trigger("agent_research", type="webhook", prompt="Handle it")).trigger
    assert hook.enabled and hook.webhook_url is not None and "secret=" in hook.webhook_url
    url = await sdk.agents.get_trigger_webhook_url("agent_research", hook.id)
    assert url.webhook_url == hook.webhook_url
    assert (await sdk.agents.get_trigger("agent_research", hook.id)).trigger.webhook_url is None
    operators = (await sdk.agents.list_trigger_operators("agent_research")).operators
    slack = next(o for o in operators if o.name == "slack_new_message")
    integration = {
        "operator_name": slack.name,
        "parameters": {"channel": "support"},
        "credentials_to_use": {"slack": {"secret_id": "sec_1"}},
    }
    event = (
        await sdk.agents.create_trigger(
            "agent_research", type="integration", prompt="Read it", integration=integration
        )
    ).trigger
    assert not event.enabled and event.integration is not None
    assert event.integration.operator_version == slack.version
    schedule = (
        await sdk.agents.create_trigger(
            "agent_research", type="schedule", prompt="Report", cron_expression="0 8 * * 1", timezone="UTC"
        )
    ).trigger
    moved = (
        await sdk.agents.update_trigger("agent_research", schedule.id, run_at="2030-01-01T09:00:00Z")
    ).trigger
    assert moved.run_at == "2030-01-01T09:00:00Z" and moved.cron_expression is None
    page = await sdk.agents.list_triggers("agent_research", page_size=2)
    assert len(page.triggers) == 2 and page.next_cursor is not None
    rest = await sdk.agents.list_triggers("agent_research", cursor=page.next_cursor)
    assert {t.id for t in [*page.triggers, *rest.triggers]} == {hook.id, event.id, schedule.id}
    gone = await sdk.agents.delete_trigger("agent_research", hook.id)
    assert gone.deleted and gone.trigger_id == hook.id
    assert (await sdk.agents.retrieve("agent_research")).agent.id == "agent_research"


async def _evaluation_runs(sdk: AsyncGumloop, fake_time: FakeTime) -> None:
    """The options, a dry run, a real run whose result is listed once graded, and the skips."""
    options = await sdk.agents.get_evaluation_options()
    assert "debounced" in options.frequencies and options.limits.criteria == 30
    done = (await sdk.sessions.create("agent_research", input="Evaluate me")).session.id
    fake_time.now += 10
    assert (await sdk.sessions.retrieve(done)).session.state == "completed"
    dry = await sdk.agents.run_evaluations("agent_research", session_ids=[done], dry_run=True)
    assert dry.dry_run and dry.credit_cost == 1 and [r.id for r in dry.results] == [None]
    seeded = "sess_agent_research_seed"
    run = await sdk.agents.run_evaluations("agent_research", session_ids=[done, seeded, "sess_nope"])
    assert [r.session_id for r in run.results] == [done] and run.results[0].status == "queued"
    assert {s.session_id: s.reason for s in run.skipped} == {
        seeded: "already_evaluated",
        "sess_nope": "session_not_found",
    }
    fake_time.now += 10
    result_id = run.results[0].id
    assert result_id is not None
    one = (await sdk.agents.get_evaluation("agent_research", result_id)).evaluation
    assert one is not None and one.session_id == done and one.grade == "pass"
    listed = (await sdk.agents.list_evaluations("agent_research")).evaluations
    assert result_id in {e.evaluation_id for e in listed}


async def test_the_sdk_reads_the_agent_settings_trigger_and_evaluation_run_answers(
    fake_time: FakeTime, answers: Answers, sdk: AsyncGumloop
) -> None:
    """The agent calls only the SDK makes (no document describes them) parse into its types, and no
    answer recorded on the way (agents, evaluations) contradicts the documents."""
    aid = await _agent_settings(sdk)
    await _triggers(sdk)
    await _evaluation_runs(sdk, fake_time)
    with pytest.raises(APIStatusError) as deleted:
        await sdk.agents.retrieve(aid)
    assert (deleted.value.status_code, deleted.value.code) == (404, "not_found")
    found = [p for a in answers.items for p in openapi.problems(a.method, a.path, a.status, a.body)]
    assert found == [], "\n".join(found)
