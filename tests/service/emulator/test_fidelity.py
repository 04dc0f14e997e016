"""Where the emulator answers as Gumloop does (its OpenAPI documents and official SDK), not as our older
notes said: agent creation honours skill_ids and the other create fields, skill names need not be unique,
a realistic MCP catalog, evaluation frequency as a mode string."""

import httpx
from gumloop.types import AgentListResponse, AgentResponse, EvaluationConfigResponse, McpServersResponse

A = "/api/v1"


def _skill_md(name: str) -> bytes:
    return f"---\nname: {name}\ndescription: Does {name}\n---\nBody.\n".encode()


async def _skill(client: httpx.AsyncClient, name: str) -> str:
    r = await client.post(A + "/skills", files={"files": ("SKILL.md", _skill_md(name), "text/markdown")})
    assert r.status_code == 201, r.text
    return str(r.json()["skill"]["id"])


async def test_creating_an_agent_attaches_skill_ids_and_honours_the_create_fields(
    client: httpx.AsyncClient,
) -> None:
    """skill_ids, agent_id, folder_id, is_active, team_id are kept; lists answer the real skill_ids."""
    sid = await _skill(client, "researcher")
    body = {
        "name": "Scout",
        "model_name": "anthropic/claude-sonnet-4",
        "skill_ids": [sid, "skill_csv_cleaner"],
        "agent_id": "agent_scout",
        "folder_id": "folder_91ab",
        "is_active": False,
        "team_id": "team_other",
    }
    r = await client.post(A + "/agents", json=body)
    assert r.status_code == 201, r.text
    agent = AgentResponse.model_validate(r.json()).agent
    assert agent.id == "agent_scout" and agent.skill_ids == [sid, "skill_csv_cleaner"]
    assert (agent.folder_id, agent.is_active, agent.team_id) == ("folder_91ab", False, "team_other")
    listed = AgentListResponse.model_validate((await client.get(A + "/agents")).json()).agents
    by_id = {a.id: a for a in listed}
    assert by_id["agent_scout"].skill_ids == [sid, "skill_csv_cleaner"]
    assert all(a.skill_ids is not None for a in listed)
    attached = (await client.get(A + "/skills", params={"agent_id": "agent_scout"})).json()["skills"]
    assert {s["id"] for s in attached} == {sid, "skill_csv_cleaner"}
    taken = await client.post(A + "/agents", json={**body, "skill_ids": []})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "agent_already_exists"


async def test_an_unknown_skill_id_fails_agent_creation_with_skill_not_found_and_no_agent(
    client: httpx.AsyncClient,
) -> None:
    """The create transaction: nothing is created when a skill id is unknown."""
    before = len((await client.get(A + "/agents", params={"page_size": 100})).json()["agents"])
    r = await client.post(
        A + "/agents", json={"name": "X", "model_name": "m", "skill_ids": ["skill_csv_cleaner", "skill_nope"]}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "skill_not_found"
    assert r.json()["error"]["details"]["skill_ids"] == ["skill_nope"]
    after = len((await client.get(A + "/agents", params={"page_size": 100})).json()["agents"])
    assert after == before
    missing = await client.get(A + "/skills/skill_nope/download")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "skill_not_found"


async def test_skill_names_need_not_be_unique(client: httpx.AsyncClient) -> None:
    """Two skills with the same name are two skills."""
    first, second = await _skill(client, "twin"), await _skill(client, "twin")
    assert first != second
    names = [s["name"] for s in (await client.get(A + "/skills", params={"page_size": 100})).json()["skills"]]
    assert names.count("twin") == 2


async def test_the_mcp_catalog_lists_gumloops_hosted_servers(client: httpx.AsyncClient) -> None:
    """gmail, slack, google calendar/drive/sheets, notion, github, hubspot, salesforce, linear, jira."""
    servers = McpServersResponse.model_validate((await client.get(A + "/mcp/servers")).json()).servers
    ids = {s.server_id for s in servers}
    assert {
        "gumloop_gmail",
        "gumloop_slack",
        "gumloop_google_calendar",
        "gumloop_google_drive",
        "gumloop_google_sheets",
        "gumloop_notion",
        "gumloop_github",
        "gumloop_hubspot",
        "gumloop_salesforce",
        "gumloop_linear",
        "gumloop_jira",
    } <= ids
    tools = (await client.get(A + "/mcp/servers/gumloop_google_calendar/tools")).json()["tools"]
    create = next(t for t in tools if t["name"] == "gcalendar_create_event")
    assert create["tool_call_id"] == "gumloop_google_calendar__gcalendar_create_event"
    assert create["input_schema"]["required"] == ["summary", "start", "end"]
    assert all(not k.startswith("_") for s in servers for k in s.model_dump())


async def test_evaluation_frequency_is_a_mode_string(client: httpx.AsyncClient) -> None:
    """The seeded and the default config answer frequency as a string mode, which a PATCH can set."""
    seeded = (await client.get(A + "/agents/agent_research/evaluation-config")).json()
    assert EvaluationConfigResponse.model_validate(seeded).config.frequency == "debounced"
    aid = (await client.post(A + "/agents", json={"name": "E", "model_name": "m"})).json()["agent"]["id"]
    fresh = (await client.get(A + f"/agents/{aid}/evaluation-config")).json()["config"]
    assert fresh["frequency"] == "debounced"
    patched = await client.patch(A + f"/agents/{aid}/evaluation-config", json={"frequency": "every"})
    assert patched.json()["config"]["frequency"] == "every"


async def test_each_endpoint_family_answers_errors_in_gumloops_form(client: httpx.AsyncClient) -> None:
    """v1 resources: the nested envelope; flows/files/organization: the flat PublicError
    {error: code, message, metadata}; the legacy agent endpoints: a bare string."""
    nested = await client.get(A + "/agents/agent_nope")
    assert nested.status_code == 404
    assert nested.json()["error"]["code"] == "not_found" and nested.json()["error"]["type"]
    flat = await client.get(A + "/get_pl_run", params={"run_id": "run_nope", "user_id": "emu_user_1"})
    assert flat.status_code == 404
    assert flat.json() == {"error": "not_found", "message": "run 'run_nope' not found", "metadata": {}}
    with_param = await client.post(A + "/upload_file", json={"user_id": "emu_user_1", "file_content": "eA=="})
    assert with_param.status_code == 400
    assert with_param.json() == {
        "error": "invalid_request",
        "message": "file_name is required",
        "metadata": {"param": "file_name"},
    }
    bare = await client.post(
        A + "/start_agent", json={"gummie_id": "gummie_nope", "message": "hi", "user_id": "emu_user_1"}
    )
    assert bare.status_code == 404 and bare.text == "gummie_not_found"
    missing = await client.post(A + "/start_agent", json={"message": "hi", "user_id": "emu_user_1"})
    assert missing.status_code == 400 and missing.text == "gummie_id is required"
