"""Legacy RPC endpoints (gumloop-api.md §2a): file uploads, start_agent and agent_status."""

import base64
from typing import Any

import httpx

from gumloop_mcp.emulator import RunningEmulator

from .conftest import FakeTime, error_of

A = "/api/v1"
U = {"user_id": "emu_user_1"}


def _file(name: str, data: bytes = b"hello") -> dict[str, str]:
    return {"file_name": name, "file_content": base64.b64encode(data).decode()}


async def test_upload_file_answers_success_and_file_name(client: httpx.AsyncClient) -> None:
    """POST /upload_file: {success, file_name}."""
    r = await client.post(A + "/upload_file", json={**U, **_file("one.txt")})
    assert r.status_code == 200 and r.json() == {"success": True, "file_name": "one.txt"}


async def test_upload_files_all_some_and_none_succeed(client: httpx.AsyncClient) -> None:
    """200 {success, uploaded_files}; 207 {partial_success, uploaded_files, failed_files}; all fail: 500."""
    bad = {"file_name": "bad.bin", "file_content": "not base64!"}
    ok = await client.post(A + "/upload_files", json={**U, "files": [_file("a.txt"), _file("b.txt")]})
    assert ok.status_code == 200
    assert ok.json() == {"success": True, "uploaded_files": ["a.txt", "b.txt"]}
    mixed = await client.post(A + "/upload_files", json={**U, "files": [_file("c.txt"), bad]})
    assert mixed.status_code == 207
    assert mixed.json() == {"partial_success": True, "uploaded_files": ["c.txt"], "failed_files": ["bad.bin"]}
    none = await client.post(A + "/upload_files", json={**U, "files": [bad]})
    assert none.status_code == 500
    assert error_of(none)["details"] == {"failed_files": ["bad.bin"]}


async def test_upload_files_missing_parameters_are_400(client: httpx.AsyncClient) -> None:
    """No files, or an entry without file_name/file_content, is a bad request, not an upload failure."""
    for files in ([], [{"file_name": "x.txt"}], [{"file_content": "aGk="}], ["x"]):
        r = await client.post(A + "/upload_files", json={**U, "files": files})
        assert r.status_code == 400, files


async def _status(client: httpx.AsyncClient, iid: str) -> dict[str, Any]:
    r = await client.get(A + f"/agent_status/{iid}", params=U)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_start_agent_continues_a_finished_interaction_keeping_its_history(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """A continuation reuses the id and appends to the conversation; a running one is 409."""
    first = await client.post(A + "/start_agent", json={**U, "gummie_id": "agent_research", "message": "one"})
    assert first.status_code == 202 and first.json()["status"] == "processing"
    iid = first.json()["interaction_id"]
    body = {**U, "gummie_id": "agent_research", "message": "two", "interaction_id": iid}
    busy = await client.post(A + "/start_agent", json=body)
    assert busy.status_code == 409 and error_of(busy)["code"] == "interaction_not_in_terminal_state"
    fake_time.now += 5
    assert (await _status(client, iid))["state"] == "COMPLETED"
    again = await client.post(A + "/start_agent", json=body)
    assert again.status_code == 202 and again.json()["interaction_id"] == iid
    assert (await _status(client, iid))["state"] == "ASYNC_PROCESSING"
    fake_time.now += 5
    done = await _status(client, iid)
    assert done["state"] == "COMPLETED"
    assert [m["role"] for m in done["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [m.get("content") for m in done["messages"] if m["role"] == "user"] == ["one", "two"]


async def test_start_agent_refuses_unknown_or_foreign_interactions_and_unknown_agents(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """404 interaction_not_found (no new interaction under that id), 400 interaction_gummie_mismatch,
    404 gummie_not_found."""
    unknown = await client.post(
        A + "/start_agent",
        json={**U, "gummie_id": "agent_research", "message": "hi", "interaction_id": "int_made_up"},
    )
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "interaction_not_found"
    assert (await client.get(A + "/agent_status/int_made_up", params=U)).status_code == 404
    started = await client.post(A + "/start_agent", json={**U, "gummie_id": "agent_research", "message": "x"})
    fake_time.now += 5
    other = await client.post(
        A + "/start_agent",
        json={
            **U,
            "gummie_id": "agent_support",
            "message": "y",
            "interaction_id": started.json()["interaction_id"],
        },
    )
    assert other.status_code == 400 and error_of(other)["code"] == "interaction_gummie_mismatch"
    nobody = await client.post(A + "/start_agent", json={**U, "gummie_id": "agent_nope", "message": "x"})
    assert nobody.status_code == 404 and error_of(nobody)["code"] == "gummie_not_found"


async def test_a_failed_interaction_can_be_continued(client: httpx.AsyncClient, fake_time: FakeTime) -> None:
    """A message asking to fail ends FAILED; FAILED is terminal, so it can be continued."""
    r = await client.post(
        A + "/start_agent", json={**U, "gummie_id": "agent_support", "message": "please [fail]"}
    )
    iid = r.json()["interaction_id"]
    fake_time.now += 5
    assert (await _status(client, iid))["state"] == "FAILED"
    body = {**U, "gummie_id": "agent_support", "message": "retry", "interaction_id": iid}
    assert (await client.post(A + "/start_agent", json=body)).status_code == 202
    fake_time.now += 5
    assert (await _status(client, iid))["state"] == "COMPLETED"


async def test_agent_status_fields_follow_the_state(client: httpx.AsyncClient, fake_time: FakeTime) -> None:
    """Processing: metadata with created_ts only; COMPLETED adds messages and the final response text."""
    r = await client.post(A + "/start_agent", json={**U, "gummie_id": "agent_research", "message": "sum up"})
    iid = r.json()["interaction_id"]
    running = await _status(client, iid)
    assert set(running) == {"interaction_id", "gummie_id", "state", "created_ts"}
    assert running["state"] == "ASYNC_PROCESSING" and running["gummie_id"] == "agent_research"
    assert running["created_ts"].endswith("+00:00")
    fake_time.now += 5
    done = await _status(client, iid)
    assert set(done) == {"interaction_id", "gummie_id", "state", "created_ts", "messages", "response"}
    assert done["created_ts"] == running["created_ts"]
    last = done["messages"][-1]
    assert last["role"] == "assistant" and last["parts"][0]["type"] == "text"
    assert done["response"] == last["parts"][0]["text"] and "sum up" in done["response"]
    assert {"id", "timestamp"} <= set(last)


async def test_agent_status_of_a_failed_interaction_has_an_error_message(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """FAILED: error_message, no messages/response."""
    r = await client.post(A + "/start_agent", json={**U, "gummie_id": "agent_support", "message": "[fail]"})
    fake_time.now += 5
    failed = await _status(client, r.json()["interaction_id"])
    assert failed["state"] == "FAILED" and failed["error_message"]
    assert "messages" not in failed and "response" not in failed


async def test_agent_status_takes_api_key_in_the_query_and_needs_user_or_project(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    """Like every legacy endpoint: ?api_key= instead of the header; user_id/project_id required; an unknown
    interaction is 404 interaction_not_found."""
    r = await client.post(A + "/start_agent", json={**U, "gummie_id": "agent_research", "message": "hi"})
    iid = r.json()["interaction_id"]
    async with httpx.AsyncClient(base_url=emulator.api_base_url) as bare:
        ok = await bare.get(f"/agent_status/{iid}", params={**U, "api_key": emulator.api_key})
        assert ok.status_code == 200 and ok.json()["interaction_id"] == iid
        by_project = await bare.get(
            f"/agent_status/{iid}", params={"project_id": "team_emu_1", "api_key": emulator.api_key}
        )
        assert by_project.status_code == 200
        missing = await bare.get(f"/agent_status/{iid}", params={"api_key": emulator.api_key})
        assert missing.status_code == 400
        assert error_of(missing)["message"] == "project_id or user_id is required"
        assert (await bare.get(f"/agent_status/{iid}", params=U)).status_code == 401
        unknown = await bare.get("/agent_status/int_nope", params={**U, "api_key": emulator.api_key})
        assert unknown.status_code == 404 and error_of(unknown)["code"] == "interaction_not_found"
        assert (await bare.get("/agents", params={"api_key": emulator.api_key})).status_code == 401
