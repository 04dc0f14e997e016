"""Route groups, auth, errors and state progression over real HTTP."""

import base64
import io
import zipfile

import httpx

from gumloop_mcp.emulator import RunningEmulator

from .conftest import FakeTime, error_of

A = "/api/v1"
U = {"user_id": "emu_user_1"}


async def test_missing_or_wrong_credentials_are_401(emulator: RunningEmulator) -> None:
    """No token, wrong token, or wrong x-auth-key give 401 with the envelope."""
    async with httpx.AsyncClient(base_url=emulator.api_base_url) as c:
        r = await c.get("/agents")
        assert r.status_code == 401
        assert "Bearer token" in error_of(r)["message"]
        r = await c.get("/agents", headers={"Authorization": "Bearer nope", "x-auth-key": emulator.user_id})
        assert r.status_code == 401
        r = await c.get(
            "/agents", headers={"Authorization": f"Bearer {emulator.api_key}", "x-auth-key": "other"}
        )
        assert r.status_code == 401
        r = await c.get("/agents", headers={"Authorization": "Bearer gl-emulator-oauth-token"})
        assert r.status_code == 200


async def test_legacy_endpoints_need_user_or_project(client: httpx.AsyncClient) -> None:
    """user_id/project_id is required (400) and must be ours (403)."""
    assert (await client.get(A + "/list_saved_items")).status_code == 400
    assert (await client.get(A + "/list_saved_items", params={"user_id": "someone"})).status_code == 403
    r = await client.get(A + "/list_saved_items", params={"project_id": "team_emu_1"})
    assert {i["saved_item_id"] for i in r.json()["saved_items"]} >= {"si_lead_enrichment"}


async def test_scenario_one_failed_run_from_yesterday_explains_itself(client: httpx.AsyncClient) -> None:
    """Run history shows a FAILED run whose log names the cause."""
    runs = (
        await client.get(A + "/get_plrun_saved_item_map", params={**U, "saved_item_id": "si_lead_enrichment"})
    ).json()
    failed = [r for r in runs["si_lead_enrichment"] if r["state"] == "FAILED"]
    assert failed
    detail = (await client.get(A + "/get_pl_run", params={**U, "run_id": failed[0]["run_id"]})).json()
    assert any("Clearbit" in line for line in detail["log"])


async def test_a_pipeline_runs_then_finishes_and_can_be_killed(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """start_pipeline -> RUNNING -> DONE after the delay; kill goes TERMINATING -> TERMINATED."""
    body = {
        **U,
        "saved_item_id": "si_weekly_report",
        "pipeline_inputs": [{"input_name": "week", "value": "42"}],
    }
    started = (await client.post(A + "/start_pipeline", json=body)).json()
    run = await client.get(A + "/get_pl_run", params={**U, "run_id": started["run_id"]})
    assert run.json()["state"] == "RUNNING"
    fake_time.now += 3
    done = (await client.get(A + "/get_pl_run", params={**U, "run_id": started["run_id"]})).json()
    assert done["state"] == "DONE"
    assert done["outputs"]["inputs_echo"] == {"week": "42"}
    second = (await client.post(A + "/start_pipeline", json=body)).json()
    assert (await client.post(A + "/kill_pipeline", json={**U, "run_id": second["run_id"]})).json()["success"]
    fake_time.now += 1
    killed = (await client.get(A + "/get_pl_run", params={**U, "run_id": second["run_id"]})).json()
    assert killed["state"] == "TERMINATED"
    bad = await client.post(
        A + "/start_pipeline", json={**U, "saved_item_id": "si_weekly_report", "pipeline_inputs": {"x": 1}}
    )
    assert bad.status_code == 400 and "unknown pipeline inputs" in error_of(bad)["message"]


async def test_concurrency_limit_gives_429_with_rate_limit_headers(client: httpx.AsyncClient) -> None:
    """A third concurrent run over the plan limit of 2 is refused with headers."""
    body = {**U, "saved_item_id": "si_weekly_report"}
    assert (await client.post(A + "/start_pipeline", json=body)).status_code == 200
    assert (await client.post(A + "/agents/agent_research/sessions", json={"input": "hi"})).status_code == 202
    r = await client.post(A + "/start_pipeline", json=body)
    assert r.status_code == 429
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"):
        assert header in r.headers
    assert r.headers["X-RateLimit-Limit"] == "2"


async def test_scenario_two_skill_session_artifacts(client: httpx.AsyncClient, fake_time: FakeTime) -> None:
    """Deploy skill, attach, session completes, artifacts of many types with signed links that expire."""
    skill_md = b"---\nname: quarterly-report\ndescription: Writes quarterly reports\n---\nDo it.\n"
    r = await client.post(A + "/skills", files={"files": ("SKILL.md", skill_md, "text/markdown")})
    assert r.status_code == 201
    skill_id = r.json()["skill"]["id"]
    r = await client.patch(A + "/agents/agent_research/skills", json={"attach": [skill_id]})
    assert skill_id in r.json()["skill_ids"]
    r = await client.post(A + "/agents/agent_research/sessions", json={"input": "Q3 report"})
    assert r.status_code == 202 and r.json()["session"]["state"] == "processing"
    sid = r.json()["session"]["id"]
    conflict = await client.post(A + f"/sessions/{sid}/messages", json={"input": "more"})
    assert conflict.status_code == 409
    assert error_of(conflict)["code"] == "interaction_not_in_terminal_state"
    fake_time.now += 4
    session = (await client.get(A + f"/sessions/{sid}")).json()["session"]
    assert session["state"] == "completed"
    assert "quarterly-report" in session["messages"][-1]["content"]
    arts = (
        await client.get(A + "/agents/agent_research/artifacts", params={"session_id": sid, "page_size": 100})
    ).json()
    media = {a["metadata"]["media_type"] for a in arts["artifacts"]}
    assert {"application/pdf", "image/png", "text/csv", "text/markdown", "application/json"} <= media
    pdf = next(a for a in arts["artifacts"] if a["filename"].endswith(".pdf"))
    link = (await client.get(A + f"/artifacts/{pdf['id']}/download")).json()
    assert link["media_type"] == "application/pdf"
    got = await client.get(link["download_url"])
    assert got.status_code == 200 and got.content.startswith(b"%PDF-")
    assert len(got.content) == link["size"]
    tampered = await client.get(link["download_url"].replace("sig=", "sig=0"))
    assert tampered.status_code == 403
    fake_time.now += 61
    assert (await client.get(link["download_url"])).status_code == 403


async def test_skill_upload_errors_are_400_and_413(client: httpx.AsyncClient) -> None:
    """Bad SKILL.md is 400 with a clear message; over 10 MB is 413."""
    r = await client.post(A + "/skills", files={"files": ("SKILL.md", b"# no front matter", "text/markdown")})
    assert r.status_code == 400 and "front matter" in error_of(r)["message"]
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as z:
        z.writestr("SKILL.md", b"x" * (10 * 1024 * 1024 + 10))
    r = await client.post(A + "/skills", files={"files": ("s.zip", big.getvalue(), "application/zip")})
    assert r.status_code == 413


async def test_unknown_things_are_404_with_the_envelope(client: httpx.AsyncClient) -> None:
    """Missing agents, sessions and routes answer 404 envelopes."""
    for path in ("/agents/nope", "/sessions/nope", "/mcp/servers/nope", "/no/such/route"):
        r = await client.get(A + path)
        assert r.status_code == 404
        assert error_of(r)["message"]


async def test_list_agents_paginates_with_opaque_cursors(client: httpx.AsyncClient) -> None:
    """page_size 1 yields a cursor that reaches the second agent."""
    first = (await client.get(A + "/agents", params={"page_size": 1})).json()
    second = (await client.get(A + "/agents", params={"page_size": 1, "cursor": first["next_cursor"]})).json()
    assert first["agents"][0]["id"] != second["agents"][0]["id"]
    assert (await client.get(A + "/agents", params={"cursor": "garbage"})).status_code == 400


async def test_mcp_tool_calls_mixed_results_are_207(client: httpx.AsyncClient) -> None:
    """One success and one unauthenticated call give 207."""
    calls = [
        {"server_id": "gumloop_slack", "tool_name": "slack_send_message", "arguments": {"text": "hi"}},
        {"server_id": "gumloop_gmail", "tool_name": "gmail_send"},
    ]
    r = await client.post(A + "/mcp/tools/call", json={"calls": calls})
    assert r.status_code == 207
    assert [x["status"] for x in r.json()["results"]] == ["success", "unauthenticated"]
    assert (await client.post(A + "/mcp/tools/call", json={"calls": []})).status_code == 400


async def test_misc_endpoints_answer(client: httpx.AsyncClient, fake_time: FakeTime) -> None:
    """Teams, models, brain, evaluations, audit logs and exports."""
    assert (await client.get(A + "/teams")).json()["teams"]
    assert (await client.get(A + "/models")).json()["model_groups"]
    hits = (await client.post(A + "/brain/search", json={"query": "clearbit"})).json()["results"]
    assert hits and hits[0]["source"] == "slack"
    assert (await client.get(A + "/agents/agent_research/evaluations/metrics")).json()["grades"]["pass"] >= 1
    logs = await client.get(
        A + "/get_audit_logs",
        params={
            **U,
            "organization_id": "org_emu_1",
            "start_time": "2000-01-01",
            "end_time": "2100-01-01",
            "page_size": 10,
        },
    )
    assert len(logs.json()["audit_logs"]) == 10 and logs.json()["total_pages"] == 6
    request = {
        **U,
        "export_fields": ["run_id", "user_id"],
        "start_date": "2000-01-01",
        "end_date": "2100-01-01",
    }
    export = (await client.post(A + "/export_data", json={**request, "include_all_workspaces": True})).json()
    status = {**U, "data_export_id": export["data_export_id"]}
    fake_time.now += 10
    await client.get(A + "/export_status", params=status)
    fake_time.now += 10
    csv = await client.get(A + "/export_status", params={**status, "download": "true"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("run_id,user_id")


async def test_workspace_user_management_takes_a_user_email(client: httpx.AsyncClient) -> None:
    """manage_workspace_users follows the documented user_email field and rejects a missing one."""
    body = {
        **U,
        "organization_id": "org_emu_1",
        "workspace_id": "ws_1",
        "action": "add",
        "user_email": "n@example.com",
    }
    r = await client.post(A + "/manage_workspace_users", json=body)
    assert r.status_code == 200 and r.json()["success"] is True
    r = await client.post(
        A + "/manage_permission_group_users",
        json={**U, "organization_id": "org_emu_1", "action": "add", "group_id": "g"},
    )
    assert r.status_code == 400 and error_of(r)["param"] == "user_email"


async def test_legacy_api_key_query_and_session_create_statuses(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    """?api_key= works on legacy routes; sessions: 201 idle, 409 duplicate, 400 stream on the API host."""
    async with httpx.AsyncClient(base_url=emulator.api_base_url) as bare:
        r = await bare.get("/list_workbooks", params={**U, "api_key": emulator.api_key})
        assert r.status_code == 200 and r.json()["workbooks"]
        assert (await bare.get("/agents", params={"api_key": emulator.api_key})).status_code == 401
    idle = await client.post(A + "/agents/agent_research/sessions", json={"session_id": "sess_mine"})
    assert idle.status_code == 201 and idle.json()["session"]["state"] == "idle"
    again = await client.post(A + "/agents/agent_research/sessions", json={"session_id": "sess_mine"})
    assert again.status_code == 409 and error_of(again)["code"] == "session_already_exists"
    streamed = await client.post(A + "/agents/agent_research/sessions", json={"input": "x", "stream": True})
    assert streamed.status_code == 400 and "/ws/api/v1" in error_of(streamed)["message"]


async def test_non_ascii_credentials_and_signatures_are_refused_not_crashed_on(
    emulator: RunningEmulator,
) -> None:
    """A non-ASCII bearer token, api_key or link signature is 401/403 with the envelope, never a 500."""
    async with httpx.AsyncClient(base_url=emulator.base_url, timeout=10) as raw:
        bearer = await raw.get(A + "/agents", headers={"Authorization": "Bearer cl\u00e9".encode()})
        assert bearer.status_code == 401 and bearer.json()["error"]
        legacy = await raw.get("/api/v1/list_saved_items", params={"api_key": "\u00e9\u00e9", "user_id": "u"})
        assert legacy.status_code == 401
        link = await raw.get("/__files/blob_x/a.txt", params={"expires": "9999999999", "sig": "\u00e9"})
        assert link.status_code == 403


async def test_a_nesting_bomb_body_or_cursor_is_a_400(client: httpx.AsyncClient) -> None:
    """JSON nested past the decoder's depth, in a body or in a cursor, is refused like bad JSON."""
    bomb = "[" * 100_000 + "]" * 100_000
    body = await client.post(
        A + "/agents", content='{"name": ' + bomb + "}", headers={"content-type": "application/json"}
    )
    assert body.status_code == 400
    cursor = base64.urlsafe_b64encode(("[" * 3000).encode()).decode()
    listed = await client.get(A + "/agents", params={"cursor": cursor})
    assert listed.status_code == 400


async def test_skill_deltas_answer_what_changed_and_refuse_conflicts(client: httpx.AsyncClient) -> None:
    """PATCH /agents/{id}/skills (gumloop-api.md §2b): attached/detached/already_*; conflicts name the ids."""
    skill_md = b"---\nname: delta-skill\ndescription: For deltas\n---\nDo it.\n"
    r = await client.post(A + "/skills", files={"files": ("SKILL.md", skill_md, "text/markdown")})
    skill_id = r.json()["skill"]["id"]
    path = A + "/agents/agent_research/skills"
    first = (await client.patch(path, json={"attach": [skill_id, skill_id]})).json()
    assert first["agent_id"] == "agent_research"
    assert first["attached"] == [skill_id] and first["already_attached"] == []
    assert skill_id in first["skill_ids"]
    again = (await client.patch(path, json={"attach": [skill_id], "detach": ["skill_never_there"]})).json()
    assert again["attached"] == [] and again["already_attached"] == [skill_id]
    assert again["detached"] == [] and again["already_detached"] == ["skill_never_there"]
    both = await client.patch(path, json={"attach": [skill_id], "detach": [skill_id]})
    assert both.status_code == 400 and error_of(both)["details"]["skill_ids"] == [skill_id]
    unknown = await client.patch(path, json={"attach": ["skill_nope"]})
    assert unknown.status_code == 400 and error_of(unknown)["details"]["skill_ids"] == ["skill_nope"]
    assert error_of(unknown)["code"] == "skill_not_found"  # the agents document: 400, offending ids
    too_many = await client.patch(path, json={"attach": [f"s{i}" for i in range(101)]})
    assert too_many.status_code == 400
    gone = (await client.patch(path, json={"detach": [skill_id]})).json()
    assert gone["detached"] == [skill_id] and skill_id not in gone["skill_ids"]
