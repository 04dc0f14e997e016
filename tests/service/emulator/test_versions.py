"""Agent and skill versions over real HTTP: updates record new versions whose contents stay readable."""

import io
import zipfile

import httpx
from gumloop.types import AgentVersionResponse

A = "/api/v1"


def _skill_md(description: str) -> bytes:
    return f"---\nname: report-writer\ndescription: {description}\n---\nBody.\n".encode()


async def test_updating_an_agent_records_a_new_deployed_version_with_its_own_composition(
    client: httpx.AsyncClient,
) -> None:
    """Create -> v1; PATCH -> v2 (deployed, v1 not) whose changes name the field; v1 keeps the old prompt."""
    created = await client.post(
        A + "/agents", json={"name": "Writer", "system_prompt": "Write briefly.", "model_name": "m/one"}
    )
    aid = created.json()["agent"]["id"]
    versions = (await client.get(A + f"/agents/{aid}/versions")).json()["versions"]
    assert [(v["major_version"], v["name"], v["is_deployed"]) for v in versions] == [(1, "v1", True)]
    v1_id = versions[0]["id"]

    r = await client.patch(A + f"/agents/{aid}", json={"system_prompt": "Write at length."})
    assert r.status_code == 200
    versions = (await client.get(A + f"/agents/{aid}/versions")).json()["versions"]
    assert [(v["major_version"], v["is_deployed"]) for v in versions] == [(2, True), (1, False)]
    assert versions[0]["creator"]["id"] == "emu_user_1" and versions[0]["created_at"].endswith("Z")
    assert "composition" not in versions[0]

    v2 = (await client.get(A + f"/agents/{aid}/versions/{versions[0]['id']}")).json()
    assert v2["version"]["major_version"] == 2
    assert v2["version"]["composition"]["system_prompt"] == "Write at length."
    assert v2["version"]["composition"]["model_name"] == "m/one"
    # The official SDK's AgentVersionChanges shape.
    assert v2["changes"] == {
        "base_version_id": v1_id,
        "attachment_changes_complete": True,
        "field_changes": [
            {
                "field": "system_prompt",
                "status": "modified",
                "text_hunks": [
                    {
                        "old_start": 0,
                        "old_end": 1,
                        "new_start": 0,
                        "new_end": 1,
                        "old_text": "Write briefly.",
                        "new_text": "Write at length.",
                    }
                ],
            }
        ],
        "tool_changes": [],
        "skill_changes": [],
        "knowledge_source_changes": [],
    }
    assert AgentVersionResponse.model_validate(v2).changes is not None
    v1 = (await client.get(A + f"/agents/{aid}/versions/{v1_id}")).json()
    assert v1["version"]["composition"]["system_prompt"] == "Write briefly."
    assert v1["version"]["is_deployed"] is False and v1["changes"] is None

    await client.patch(A + f"/agents/{aid}", json={"system_prompt": "Write at length."})  # no change
    assert len((await client.get(A + f"/agents/{aid}/versions")).json()["versions"]) == 2

    skill = await client.post(
        A + "/skills", files={"files": ("SKILL.md", _skill_md("Writes"), "text/markdown")}
    )
    await client.patch(A + f"/agents/{aid}/skills", json={"attach": [skill.json()["skill"]["id"]]})
    versions = (await client.get(A + f"/agents/{aid}/versions")).json()["versions"]
    assert [v["major_version"] for v in versions] == [3, 2, 1]
    v3 = (await client.get(A + f"/agents/{aid}/versions/{versions[0]['id']}")).json()
    assert v3["version"]["composition"]["skill_ids"] == [skill.json()["skill"]["id"]]
    assert v3["changes"]["skill_changes"] == [{"skill_id": skill.json()["skill"]["id"], "status": "added"}]
    assert v3["changes"]["field_changes"] == [] and v3["changes"]["tool_changes"] == []
    await client.put(A + f"/agents/{aid}/mcp-servers/gumloop_slack", json={"approval_mode": "write"})
    versions = (await client.get(A + f"/agents/{aid}/versions")).json()["versions"]
    v4 = (await client.get(A + f"/agents/{aid}/versions/{versions[0]['id']}")).json()
    (tool_change,) = v4["changes"]["tool_changes"]
    assert tool_change["identity"] == {"type": "gumcp_server", "server_id": "gumloop_slack"}
    assert tool_change["status"] == "added" and tool_change["new_position"] == 0
    assert AgentVersionResponse.model_validate(v4).changes is not None
    missing = await client.get(A + f"/agents/{aid}/versions/ver_nope")
    assert missing.status_code == 404


async def test_a_seeded_agent_has_two_versions_and_an_update_makes_the_third(
    client: httpx.AsyncClient,
) -> None:
    """The seed's v1 differs from v2 in its prompt; a PATCH adds v3 on top."""
    versions = (await client.get(A + "/agents/agent_research/versions")).json()["versions"]
    assert [v["id"] for v in versions] == ["ver_agent_research_2", "ver_agent_research_1"]
    v2 = (await client.get(A + "/agents/agent_research/versions/ver_agent_research_2")).json()
    (change,) = v2["changes"]["field_changes"]
    assert change["field"] == "system_prompt"
    assert change["text_hunks"][0]["old_text"].startswith("You are a helpful assistant.")
    await client.patch(A + "/agents/agent_research", json={"description": "Now also summarises"})
    versions = (await client.get(A + "/agents/agent_research/versions")).json()["versions"]
    assert [v["major_version"] for v in versions] == [3, 2, 1]
    assert [v["is_deployed"] for v in versions] == [True, False, False]


async def test_updating_a_skill_makes_a_new_version_and_the_old_one_stays_downloadable(
    client: httpx.AsyncClient,
) -> None:
    """PATCH gives a new version_id and major_version 2; the old version_id downloads the old files."""
    created = (
        await client.post(A + "/skills", files={"files": ("SKILL.md", _skill_md("First"), "text/markdown")})
    ).json()["skill"]
    updated = await client.patch(
        A + f"/skills/{created['id']}", files={"files": ("SKILL.md", _skill_md("Second"), "text/markdown")}
    )
    assert updated.status_code == 200
    skill = updated.json()["skill"]
    assert skill["major_version"] == 2 and skill["version_id"] != created["version_id"]
    assert skill["description"] == "Second"

    async def skill_md(version_id: str | None) -> tuple[int, bytes]:
        params = {"version_id": version_id} if version_id else {}
        link = (await client.get(A + f"/skills/{created['id']}/download", params=params)).json()
        archive = zipfile.ZipFile(io.BytesIO((await client.get(link["download_url"])).content))
        return link["major_version"], archive.read("SKILL.md")

    assert await skill_md(None) == (2, _skill_md("Second"))
    assert await skill_md(created["version_id"]) == (1, _skill_md("First"))
    unknown = await client.get(A + f"/skills/{created['id']}/download", params={"version_id": "sv_nope"})
    assert unknown.status_code == 404
