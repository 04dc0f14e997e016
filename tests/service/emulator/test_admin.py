"""Organization endpoints (gumloop-api.md §2b): audit logs, data exports, workspace/permission-group users."""

import math

import httpx
import pytest

from .conftest import FakeTime, error_of

A = "/api/v1"
ORG = {"organization_id": "org_emu_1", "user_id": "emu_user_1"}
WINDOW = {"start_time": "2027-01-01T00:00:00Z", "end_time": "2027-02-01T00:00:00Z"}


async def test_audit_logs_page_by_number_with_total_pages_and_documented_fields(
    client: httpx.AsyncClient,
) -> None:
    """Default page_size 50; total_pages tells the pager where to stop; entries carry the OAS fields."""
    first = await client.get(A + "/get_audit_logs", params={**ORG, **WINDOW})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"audit_logs", "total_count", "page", "page_size", "total_pages"}
    assert body["page"] == 1 and body["page_size"] == 50
    assert body["total_pages"] == math.ceil(body["total_count"] / 50) == 2
    assert len(body["audit_logs"]) == 50
    entry = body["audit_logs"][0]
    assert set(entry) == {
        "event_id",
        "timestamp",
        "event_type",
        "user_id",
        "details",
        "source_ip",
        "user_agent",
    }
    assert isinstance(entry["details"], str)
    last = (await client.get(A + "/get_audit_logs", params={**ORG, **WINDOW, "page": 2})).json()
    assert len(last["audit_logs"]) == body["total_count"] - 50
    ids = {e["event_id"] for e in body["audit_logs"]} | {e["event_id"] for e in last["audit_logs"]}
    assert len(ids) == body["total_count"]


async def test_audit_log_window_filters_by_time_not_by_string(client: httpx.AsyncClient) -> None:
    """Offsets and dates are compared as instants: a window given in +02:00 selects the same events."""
    utc = {"start_time": "2027-01-15T00:00:00Z", "end_time": "2027-01-15T06:00:00Z"}
    plus2 = {"start_time": "2027-01-15T02:00:00+02:00", "end_time": "2027-01-15T08:00:00+02:00"}
    a = (await client.get(A + "/get_audit_logs", params={**ORG, **utc})).json()
    b = (await client.get(A + "/get_audit_logs", params={**ORG, **plus2})).json()
    assert a["total_count"] == b["total_count"] > 0
    assert [e["event_id"] for e in a["audit_logs"]] == [e["event_id"] for e in b["audit_logs"]]


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({**ORG, "start_time": "yesterday", "end_time": WINDOW["end_time"]}, 400, "start_time"),
        ({**ORG, "start_time": WINDOW["start_time"], "end_time": "2027-13-01"}, 400, "end_time"),
        ({**ORG, "start_time": WINDOW["end_time"], "end_time": WINDOW["start_time"]}, 400, "end_time"),
        ({"organization_id": "org_emu_1", **WINDOW}, 400, "user_id"),
        ({**ORG, **WINDOW, "page_size": 0}, 400, "page_size"),
        ({**ORG, **WINDOW, "page": 0}, 400, "page"),
        ({**ORG, "organization_id": "org_other", **WINDOW}, 404, "organization_id"),
    ],
)
async def test_audit_log_bad_requests(
    client: httpx.AsyncClient, params: dict[str, object], status: int, param: str
) -> None:
    """Malformed or reversed timestamps, a missing user_id, bad paging and an unknown organization."""
    r = await client.get(A + "/get_audit_logs", params=params)
    assert r.status_code == status, r.text
    assert error_of(r)["param"] == param


async def test_audit_logs_need_an_org_admin(client: httpx.AsyncClient) -> None:
    """A user_id that is not the key's user (an organization admin) is 403."""
    r = await client.get(A + "/get_audit_logs", params={**ORG, "user_id": "someone_else", **WINDOW})
    assert r.status_code == 403


EXPORT = {
    "user_id": "emu_user_1",
    "export_fields": ["agent_id", "agent_name"],
    "start_date": "2026-01-01T00:00:00Z",
    "end_date": "2027-12-31T23:59:59Z",
    "data_type": "agents",
    "include_all_workspaces": True,
}


async def test_export_answers_success_created_ts_then_finished_ts(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """export_data: {success, data_export_id, state: REQUESTED, created_ts}; export_status adds finished_ts
    only once COMPLETED; download=true before then is still the JSON status, after it the CSV."""
    created = await client.post(A + "/export_data", json=EXPORT)
    assert created.status_code == 200
    body = created.json()
    assert set(body) == {"success", "data_export_id", "state", "created_ts"}
    assert body["success"] is True and body["state"] == "REQUESTED"
    status = {"user_id": "emu_user_1", "data_export_id": body["data_export_id"]}
    early = await client.get(A + "/export_status", params={**status, "download": "true"})
    assert early.status_code == 200
    assert early.json() == {
        "data_export_id": body["data_export_id"],
        "state": "REQUESTED",
        "created_ts": body["created_ts"],
    }
    fake_time.now += 3
    assert (await client.get(A + "/export_status", params=status)).json()["state"] == "IN_PROGRESS"
    fake_time.now += 3
    done = (await client.get(A + "/export_status", params=status)).json()
    assert done["state"] == "COMPLETED" and done["created_ts"] == body["created_ts"]
    assert done["finished_ts"] > done["created_ts"]
    csv = await client.get(A + "/export_status", params={**status, "download": "true"})
    lines = csv.text.strip().splitlines()
    assert lines[0] == "agent_id,agent_name"
    assert {line.split(",")[0] for line in lines[1:]} == {"agent_research", "agent_support"}


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"user_id": None}, "user_id"),
        ({"export_fields": []}, "export_fields"),
        ({"start_date": None}, "start_date"),
        ({"end_date": "next week"}, "end_date"),
        ({"data_type": "everything"}, "data_type"),
        ({"export_level": "galaxy"}, "export_level"),
        ({"include_all_workspaces": None}, "workspace_ids"),
        ({"include_all_workspaces": False}, "workspace_ids"),
        ({"export_level": "workspace", "workspace_ids": ["ws_1", "ws_2"]}, "workspace_ids"),
    ],
)
async def test_export_data_bad_requests(
    client: httpx.AsyncClient, change: dict[str, object], param: str
) -> None:
    """Missing required fields, malformed dates, unknown enums and a non-credit export without scope."""
    body = {k: v for k, v in {**EXPORT, **change}.items() if v is not None}
    r = await client.post(A + "/export_data", json=body)
    assert r.status_code == 400, r.text
    assert error_of(r)["param"] == param


async def test_credit_log_exports_need_no_scope(client: httpx.AsyncClient) -> None:
    """Credit logs are always organization-wide: no scoping parameter needed."""
    body = {k: v for k, v in EXPORT.items() if k != "include_all_workspaces"}
    r = await client.post(A + "/export_data", json={**body, "data_type": "credit_logs"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "target"),
    [("/manage_workspace_users", "workspace_id"), ("/manage_permission_group_users", "group_id")],
)
async def test_manage_users_answers_success_and_message(
    client: httpx.AsyncClient, path: str, target: str
) -> None:
    """{success, message}; organization_id, user_id, the workspace/group id, action and user_email are
    required; is_admin (workspaces) is optional."""
    body = {**ORG, target: "x_1", "action": "add", "user_email": "n@example.com"}
    r = await client.post(A + path, json=body)
    assert r.status_code == 200
    assert set(r.json()) == {"success", "message"} and r.json()["success"] is True
    assert "n@example.com" in r.json()["message"]
    removed = await client.post(A + path, json={**body, "action": "remove"})
    assert "removed" in removed.json()["message"]
    for missing in ("organization_id", "user_id", target, "action", "user_email"):
        r = await client.post(A + path, json={k: v for k, v in body.items() if k != missing})
        assert r.status_code == 400 and error_of(r)["param"] == missing, missing
    assert (await client.post(A + path, json={**body, "user_id": "not_admin"})).status_code == 403
