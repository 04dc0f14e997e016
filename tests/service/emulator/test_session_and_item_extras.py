"""The SDK-only session, artifact, skill and MCP routes (issue 14): the message queue drains when a turn
ends, attachments must be uploaded first, sharing is checked whole, passwords never come back."""

import base64
from typing import Any

import httpx

from gumloop_mcp.emulator import RunningEmulator
from gumloop_mcp.emulator.context import EMU

from .conftest import FakeTime, error_of

A = "/api/v1"


async def _session(client: httpx.AsyncClient, text: str | None = None) -> dict[str, Any]:
    body = {"input": text} if text else {}
    r = await client.post(A + "/agents/agent_support/sessions", json=body)
    assert r.status_code in (201, 202), r.text
    return dict(r.json()["session"])


async def test_queued_messages_wait_for_the_turn_then_go_in_order(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """While processing, messages queue (positions 1, 2); each turn's end sends the next one."""
    sid = (await _session(client, "First"))["id"]
    one = (await client.post(A + f"/sessions/{sid}/queue", json={"input": "Second"})).json()
    two = (await client.post(A + f"/sessions/{sid}/queue", json={"input": "Third"})).json()
    assert [m["position"] for m in two["queue"]] == [1, 2]
    assert one["queued_message"]["state"] == "queued"
    fake_time.now += 4.5  # the first turn ends; "Second" starts
    session = (await client.get(A + f"/sessions/{sid}")).json()["session"]
    assert session["state"] == "processing"
    assert [m["content"] for m in session["messages"] if m["role"] == "user"] == ["First", "Second"]
    queue = (await client.get(A + f"/sessions/{sid}/queue")).json()["queue"]
    assert [(m["input"], m["position"]) for m in queue] == [("Third", 1)]


async def test_queueing_to_an_idle_session_sends_at_once(client: httpx.AsyncClient) -> None:
    """Nothing to wait for: the answer's queued_message is sent and the queue stays empty."""
    sid = (await _session(client))["id"]
    r = (await client.post(A + f"/sessions/{sid}/queue", json={"input": "Now"})).json()
    assert r["queued_message"]["state"] == "sent" and r["queue"] == []
    assert (await client.get(A + f"/sessions/{sid}")).json()["session"]["state"] == "processing"


async def test_unknown_queued_messages_and_empty_inputs_are_refused(client: httpx.AsyncClient) -> None:
    """404 for a queued message that is not there; 400 naming input for an empty one."""
    sid = (await _session(client, "Busy"))["id"]
    missing = await client.patch(A + f"/sessions/{sid}/queue/qm_nope", json={"input": "x"})
    assert missing.status_code == 404
    empty = await client.post(A + f"/sessions/{sid}/queue", json={"input": "  "})
    assert empty.status_code == 400 and error_of(empty)["param"] == "input"


async def test_attachments_must_name_files_uploaded_to_the_session(client: httpx.AsyncClient) -> None:
    """A message may attach an uploaded file; an unknown file name is refused before anything starts."""
    sid = (await _session(client))["id"]
    content = base64.b64encode(b"id,total\n1,9\n").decode()
    up = await client.post(A + f"/sessions/{sid}/files", json={"file_name": "t.csv", "file_content": content})
    assert up.json() == {"file_name": "t.csv", "media_type": "text/csv", "size": 13}
    bad = await client.post(
        A + f"/sessions/{sid}/messages", json={"input": "Read", "attachments": [{"file_name": "other.csv"}]}
    )
    assert bad.status_code == 400 and error_of(bad)["param"] == "attachments"
    assert (await client.get(A + f"/sessions/{sid}")).json()["session"]["state"] == "idle"
    ok = await client.post(
        A + f"/sessions/{sid}/messages", json={"input": "Read", "attachments": [{"file_name": "t.csv"}]}
    )
    assert ok.status_code == 202
    not_b64 = await client.post(A + f"/sessions/{sid}/files", json={"file_name": "x", "file_content": "%%"})
    assert not_b64.status_code == 400 and error_of(not_b64)["param"] == "file_content"


async def test_rename_checks_the_length(client: httpx.AsyncClient) -> None:
    """1-256 characters."""
    sid = (await _session(client))["id"]
    assert (await client.patch(A + f"/sessions/{sid}", json={"name": "Q3"})).json()["session"]["name"] == "Q3"
    too_long = await client.patch(A + f"/sessions/{sid}", json={"name": "x" * 257})
    assert too_long.status_code == 400 and error_of(too_long)["param"] == "name"


async def _artifact_id(client: httpx.AsyncClient) -> str:
    artifacts = (await client.get(A + "/agents/agent_support/artifacts")).json()["artifacts"]
    return str(artifacts[0]["id"])


async def test_sharing_is_checked_whole_and_the_owner_stays(client: httpx.AsyncClient) -> None:
    """A bad role anywhere changes nothing; the owner cannot be removed; removal of a grant works."""
    aid = await _artifact_id(client)
    grant = {"type": "person", "email": "bo@example.com", "role": "viewer"}
    bad = await client.put(
        A + f"/artifacts/{aid}/access",
        json={"share": [grant, {"type": "team", "team_id": "t", "role": "god"}]},
    )
    assert bad.status_code == 400 and error_of(bad)["code"] == "invalid_role"
    access = (await client.get(A + f"/artifacts/{aid}/access")).json()["access"]
    assert [p["role"] for p in access["people"]] == ["owner"] and access["grants_visibility"] == "private"
    owner = access["people"][0]["email"]
    refused = await client.put(
        A + f"/artifacts/{aid}/access", json={"remove": [{"type": "person", "email": owner}]}
    )
    assert refused.status_code == 400
    shared = (await client.put(A + f"/artifacts/{aid}/access", json={"share": [grant]})).json()
    assert shared["notified"] == ["bo@example.com"] and shared["access"]["grants_visibility"] == "shared"
    again = (await client.put(A + f"/artifacts/{aid}/access", json={"share": [grant]})).json()
    assert again["notified"] == []  # already shared: nobody notified twice
    removed = await client.put(
        A + f"/artifacts/{aid}/access", json={"remove": [{"type": "person", "email": "bo@example.com"}]}
    )
    assert removed.json()["access"]["grants_visibility"] == "private"


async def test_password_links_are_for_artifacts_and_the_password_never_comes_back(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    """Sessions cannot take a password link; an artifact's password is kept hashed."""
    sid = (await _session(client))["id"]
    refused = await client.put(A + f"/sessions/{sid}/access", json={"link": {"mode": "password"}})
    assert refused.status_code == 400
    aid = await _artifact_id(client)
    assert (await client.put(A + f"/artifacts/{aid}/password", json={"password": "s3cret-pw"})).json() == {
        "success": True
    }
    linked = (await client.put(A + f"/artifacts/{aid}/access", json={"link": {"mode": "password"}})).json()
    assert linked["access"]["password_protected"] is True
    assert "s3cret-pw" not in repr(emulator.app[EMU].store.item_access)
    assert "s3cret-pw" not in repr(emulator.app[EMU].requests)
    empty = await client.put(A + f"/artifacts/{aid}/password", json={"password": ""})
    assert empty.status_code == 400 and error_of(empty)["param"] == "password"


async def test_deleting_an_artifact_removes_it_and_its_file(client: httpx.AsyncClient) -> None:
    """Then its download, versions and access answer 404."""
    aid = await _artifact_id(client)
    versions = (await client.get(A + f"/artifacts/{aid}/versions")).json()["versions"]
    assert len(versions) == 1 and versions[0]["is_current"] is True
    renamed = await client.put(A + f"/artifacts/{aid}/name", json={"name": None})
    assert renamed.json() == {"name": None}
    assert (await client.delete(A + f"/artifacts/{aid}")).json() == {"deleted": True}
    for path in (f"/artifacts/{aid}/download", f"/artifacts/{aid}/versions", f"/artifacts/{aid}/access"):
        assert (await client.get(A + path)).status_code == 404, path


async def test_the_sync_plan_hash_follows_the_published_skills(client: httpx.AsyncClient) -> None:
    """Deleting a skill changes the manifest; another organization is refused."""
    before = (await client.post(A + "/skills/sync/plan", json={})).json()
    assert before["skill_count"] == before["manifest"]["skill_count"] > 0
    skill_id = (await client.get(A + "/skills")).json()["skills"][0]["id"]
    assert (await client.delete(A + f"/skills/{skill_id}")).status_code in (200, 204)
    after = (await client.post(A + "/skills/sync/plan", json={})).json()
    assert after["skill_count"] == before["skill_count"] - 1
    assert after["manifest"]["hash"] != before["manifest"]["hash"]
    other = await client.post(A + "/skills/sync/plan", json={"organization_id": "org_other"})
    assert other.status_code == 403


async def test_mcp_accounts_exist_only_for_connected_servers(client: httpx.AsyncClient) -> None:
    """A connected server has its default account; an unknown server is 404."""
    slack = (await client.get(A + "/mcp/servers/gumloop_slack/accounts")).json()
    assert slack["server_id"] == "gumloop_slack" and [a["is_default"] for a in slack["accounts"]] == [True]
    assert (await client.get(A + "/mcp/servers/gumloop_gmail/accounts")).json()["accounts"] == []
    assert (await client.get(A + "/mcp/servers/nope/accounts")).status_code == 404
