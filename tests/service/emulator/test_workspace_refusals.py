"""Bad input to the Company Brain, organization evaluation, inference and browser profile routes gets a
clear error in Gumloop's envelope: the status, a specific code and the parameter at fault."""

from typing import Any

import httpx
import pytest

from .conftest import FakeTime, error_of

A = "/api/v1"
ORG = "org_emu_1"


async def _refused(response: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"name": " "}, "invalid_request", "name"),
        ({"name": "n", "scope": "everyone"}, "invalid_request", "scope"),
        ({"name": "n", "scope": "team"}, "invalid_request", "team_id"),
        ({"name": "n", "source_type": "notion"}, "invalid_request", "source_type"),
        ({"name": "n", "require_approval": "yes"}, "invalid_request", "require_approval"),
    ],
)
async def test_a_brain_source_is_refused_for_each_bad_field(
    client: httpx.AsyncClient, body: dict[str, Any], code: str, param: str
) -> None:
    """Blank name, unknown scope, a team source without a team, a connector type, a non-boolean flag."""
    await _refused(await client.post(A + "/brain/sources", json=body), 400, code, param)


async def test_brain_sources_refuse_out_of_order_steps_and_bad_uploads(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """Unknown ids 404; a ready source cannot be approved; a syncing one neither syncs nor uploads;
    uploads need multipart, at most 25 files, and a file-upload source; children page up to 1000."""
    await _refused(await client.get(A + "/brain/sources/bsrc_nope"), 404, "brain_source_not_found")
    source = (await client.post(A + "/brain/sources", json={"name": "Ready"})).json()["source"]
    base = f"{A}/brain/sources/{source['id']}"
    await _refused(await client.post(base + "/approve"), 409, "source_not_draft")
    await _refused(await client.post(base + "/files", json={"files": []}), 400, "invalid_request", "files")
    many = [("files", (f"f{n}.txt", b"x", "text/plain")) for n in range(26)]
    await _refused(await client.post(base + "/files", files=many), 400, "invalid_request", "files")
    await _refused(await client.delete(base + "/files/bfile_nope"), 404, "brain_file_not_found", "file_id")
    assert (await client.post(base + "/sync")).json()["status"] == "queued"
    await _refused(await client.post(base + "/sync"), 409, "sync_in_progress")
    await _refused(
        await client.post(base + "/files", files=[("files", ("a.txt", b"a"))]), 409, "sync_in_progress"
    )
    fake_time.now += 5
    assert (await client.get(base)).json()["source"]["status"] == "ready"
    connected = f"{A}/brain/sources/bsrc_notion"
    await _refused(
        await client.post(connected + "/files", files=[("files", ("a.txt", b"a"))]), 400, "invalid_request"
    )
    refused = await client.get(connected + "/children", params={"page_size": 1001})
    await _refused(refused, 400, "invalid_request", "page_size")
    assert (await client.get(connected + "/children", params={"page_size": 1000})).status_code == 200


async def test_organization_evaluations_refuse_bad_steps(client: httpx.AsyncClient) -> None:
    """Unknown organization 404; born enabled 400; a taken name 409; enabling without targets 400;
    unknown target kinds and ids; run limits; bad filters and windows."""
    await _refused(await client.get(A + "/evaluations"), 400, "invalid_request", "organization_id")
    await _refused(
        await client.get(A + "/evaluations", params={"organization_id": "org_x"}),
        404,
        "organization_not_found",
    )
    body = {"organization_id": ORG, "name": "Quality"}
    await _refused(
        await client.post(A + "/evaluations", json={**body, "enabled": True}),
        400,
        "invalid_request",
        "enabled",
    )
    bad_config = {**body, "config": {"frequency": "hourly"}}
    await _refused(
        await client.post(A + "/evaluations", json=bad_config), 400, "invalid_request", "config.frequency"
    )
    evaluation = (await client.post(A + "/evaluations", json=body)).json()["evaluation"]
    await _refused(await client.post(A + "/evaluations", json=body), 409, "evaluation_name_taken", "name")
    base = f"{A}/evaluations/{evaluation['id']}"
    await _refused(await client.patch(base, json={"enabled": True}), 400, "invalid_request", "enabled")
    await _refused(await client.patch(base, json={"colour": "red"}), 400, "invalid_request", "colour")
    targets = {"targets": [{"type": "planet"}]}
    await _refused(await client.put(base + "/targets", json=targets), 400, "invalid_request", "targets[0]")
    targets = {"targets": [{"type": "agent", "id": "agent_nope"}]}
    await _refused(await client.put(base + "/targets", json=targets), 404, "agent_not_found", "targets[0]")
    targets = {"targets": [{"type": "team"}]}
    await _refused(await client.put(base + "/targets", json=targets), 400, "invalid_request", "targets[0]")
    await _refused(
        await client.post(base + "/run", json={"session_ids": []}), 400, "invalid_request", "session_ids"
    )
    too_many = {"session_ids": [f"s{n}" for n in range(201)]}
    await _refused(await client.post(base + "/run", json=too_many), 400, "invalid_request", "session_ids")
    await _refused(
        await client.get(base + "/results", params={"grade": "A+"}), 400, "invalid_request", "grade"
    )
    await _refused(
        await client.get(base + "/results", params={"created_after": "yesterday"}),
        400,
        "invalid_request",
        "created_after",
    )
    await _refused(await client.get(base + "/metrics", params={"days": 0}), 400, "invalid_request", "days")
    await _refused(
        await client.get(base + "/results/oevr_nope"), 404, "evaluation_result_not_found", "result_id"
    )
    assert (await client.delete(base)).json() == {"deleted": True}
    await _refused(await client.get(base), 404, "evaluation_not_found", "evaluation_id")


async def test_routing_decisions_and_the_wiki_refuse_bad_requests(client: httpx.AsyncClient) -> None:
    """Routing needs a task and a known model; decisions a known model, a state and well-formed
    questions; the wiki a known card type."""
    await _refused(await client.post(A + "/models/route", json={}), 400, "invalid_request", "input")
    await _refused(
        await client.post(A + "/models/route", json={"input": "x", "models": ["nope/x"]}),
        404,
        "model_not_found",
    )
    question = {"type": "choice", "instructions": "Which?", "criteria": {}}
    decision = {"model": "anthropic/claude-sonnet-4", "state": "s", "questions": {"q": question}}
    await _refused(await client.post(A + "/decisions", json=decision), 400, "invalid_request", "questions.q")
    await _refused(
        await client.post(A + "/decisions", json={**decision, "model": "nope"}),
        404,
        "model_not_found",
        "model",
    )
    await _refused(
        await client.post(A + "/decisions", json={**decision, "questions": {}}),
        400,
        "invalid_request",
        "questions",
    )
    noul = {"q": {"type": "maybe", "instructions": "?"}}
    await _refused(
        await client.post(A + "/decisions", json={**decision, "questions": noul}),
        400,
        "invalid_request",
        "questions.q",
    )
    await _refused(
        await client.post(A + "/wiki/query", json={"type": "planet"}), 400, "invalid_request", "type"
    )


async def test_browser_profiles_refuse_bad_changes(client: httpx.AsyncClient) -> None:
    """Unknown profile 404; an update with nothing or is_default false 400; the default cannot be deleted
    while another remains; malformed cookies and URLs 400, naming the cookie."""
    await _refused(await client.get(A + "/browser-profiles/bp_nope"), 404, "browser_profile_not_found")
    await _refused(
        await client.post(A + "/browser-profiles", json={"name": ""}), 400, "invalid_request", "name"
    )
    await _refused(await client.patch(A + "/browser-profiles/default", json={}), 400, "invalid_request")
    off = {"is_default": False}
    await _refused(
        await client.patch(A + "/browser-profiles/default", json=off), 400, "invalid_request", "is_default"
    )
    assert (await client.post(A + "/browser-profiles", json={"name": "Work"})).status_code == 201
    await _refused(await client.delete(A + "/browser-profiles/default"), 409, "default_profile")
    url = A + "/browser-profiles/default/cookies"
    await _refused(await client.post(url, json={"cookies": []}), 400, "invalid_request", "cookies")
    no_domain = {"cookies": [{"name": "a", "value": "b"}]}
    await _refused(await client.post(url, json=no_domain), 400, "invalid_request", "cookies[0]")
    ftp = {"url": "ftp://github.com", "cookies": [{"name": "a", "value": "b", "domain": "github.com"}]}
    await _refused(await client.post(url, json=ftp), 400, "invalid_request", "url")
