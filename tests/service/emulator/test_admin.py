"""Organization endpoints (gumloop-api.md §2b): audit logs, data exports, workspace/permission-group users."""

import math

import httpx
import pytest

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
    assert r.json()["error"]["param"] == param


async def test_audit_logs_need_an_org_admin(client: httpx.AsyncClient) -> None:
    """A user_id that is not the key's user (an organization admin) is 403."""
    r = await client.get(A + "/get_audit_logs", params={**ORG, "user_id": "someone_else", **WINDOW})
    assert r.status_code == 403
