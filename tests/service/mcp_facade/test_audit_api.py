"""GET /integrated-account/{account_id}/mcp/{mcp_id}/activity over fake backends and a filled trail."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as ppb_grpc
from gumloop_mcp.runtime import create_channel
from gumloop_mcp.tokens.v1 import tokens_service_pb2_grpc as tpb_grpc
from services.mcp_facade.audit import AuditRecord, MemoryAuditStore
from services.mcp_facade.audit.records import FIELDS
from services.mcp_facade.management.management import _AUDIT, create_admin_app
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.state.backends import Backends

from .test_management import AUTH, FakeProxy, management_tokens

BASE_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z


@pytest.fixture
async def admin() -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    """The admin app with one MCP server of acct_1 whose trail holds 12 calls (and one of another server)."""
    tokens, proxy = management_tokens(), FakeProxy()  # type: ignore[abstract]
    server = grpc.aio.server()
    tpb_grpc.add_TokenServiceServicer_to_server(tokens, server)
    ppb_grpc.add_ProxyServiceServicer_to_server(proxy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = create_channel(f"127.0.0.1:{port}")
    backends = Backends(tpb_grpc.TokenServiceStub(channel), ppb_grpc.ProxyServiceStub(channel))
    store = MemoryAuditStore()
    client = TestClient(
        TestServer(create_admin_app(FacadeSettings(), backends, audit=store), host="127.0.0.1")
    )
    await client.start_server()
    try:
        resp = await client.post("/integrated-account/acct_1/mcp", json={"name": "a"}, headers=AUTH)
        mcp_id = (await resp.json())["id"]
        await store.append(
            [
                AuditRecord(
                    time_ms=BASE_MS + i * 1000,
                    server_id=mcp_id,
                    tool="echo" if i % 3 else "=SUM(A1)",
                    outcome="tool_error" if i == 5 else "ok",
                    latency_ms=10.0 + i,
                    client_name="claude-ai" if i % 2 else "cursor",
                    protocol_version="2025-11-25",
                )
                for i in range(12)
            ]
            + [AuditRecord(time_ms=BASE_MS, server_id="mcp_other", tool="x", outcome="ok", latency_ms=1)]
        )
        yield client, mcp_id
    finally:
        await client.close()
        await channel.close()
        await server.stop(0)


async def test_activity_pages_newest_first_with_every_field(admin: tuple[TestClient[Any, Any], str]) -> None:
    client, mcp_id = admin
    path = f"/integrated-account/acct_1/mcp/{mcp_id}/activity"
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "5", **({"next_cursor": cursor} if cursor else {})}
        resp = await client.get(path, params=params, headers=AUTH)
        assert resp.status == 200
        body = await resp.json()
        assert len(body["result"]) <= 5
        seen += body["result"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 12 and len({r["id"] for r in seen}) == 12
    assert seen[0]["time"] == "2026-05-28T20:26:51Z" and seen[-1]["time"] == "2026-05-28T20:26:40Z"
    first = seen[0]
    assert set(first) == set(FIELDS)
    assert (first["tool"], first["outcome"], first["latency_ms"]) == ("echo", "ok", 21.0)
    assert first["client_name"] == "claude-ai" and first["arguments"] is None and first["result"] is None


async def test_activity_filters_by_tool_outcome_and_time(admin: tuple[TestClient[Any, Any], str]) -> None:
    client, mcp_id = admin
    path = f"/integrated-account/acct_1/mcp/{mcp_id}/activity"
    resp = await client.get(path, params={"outcome": "tool_error"}, headers=AUTH)
    assert [r["latency_ms"] for r in (await resp.json())["result"]] == [15.0]
    resp = await client.get(
        path,
        params={"tool": "echo", "since": "2026-05-28T20:26:42Z", "until": "2026-05-28T20:26:46Z"},
        headers=AUTH,
    )
    assert [r["time"][17:19] for r in (await resp.json())["result"]] == ["45", "44", "42"]  # 43: =SUM
    resp = await client.get(path, params={"client": "cursor", "tool": "echo"}, headers=AUTH)
    got = (await resp.json())["result"]
    assert [r["time"][17:19] for r in got] == ["50", "48", "44", "42"]  # even seconds, not multiples of 3
    assert {r["client_name"] for r in got} == {"cursor"}


async def test_activity_exports_csv_by_format_or_accept(admin: tuple[TestClient[Any, Any], str]) -> None:
    client, mcp_id = admin
    path = f"/integrated-account/acct_1/mcp/{mcp_id}/activity"
    for kwargs in ({"params": {"format": "csv", "limit": "1"}}, {"headers": {"Accept": "text/csv"}}):
        headers = {**AUTH, **kwargs.get("headers", {})}
        resp = await client.get(path, params=kwargs.get("params", {}), headers=headers)
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert "attachment" in resp.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
        assert len(rows) == 12  # every record: limit pages the JSON listing only
        assert {r["tool"] for r in rows} == {"echo", "'=SUM(A1)"}  # formula defused
        assert all(r["server_id"] == mcp_id and r["arguments"] == "" for r in rows)


async def test_activity_refuses_bad_queries_and_other_accounts(
    admin: tuple[TestClient[Any, Any], str],
) -> None:
    client, mcp_id = admin
    path = f"/integrated-account/acct_1/mcp/{mcp_id}/activity"
    bad = {"outcome": "great", "since": "soon", "limit": "500", "client": "c" * 65}
    resp = await client.get(path, params=bad, headers=AUTH)
    body = await resp.json()
    assert resp.status == 400 and body["error"]["code"] == "invalid_argument"
    assert {f["field"] for f in body["error"]["fields"]} == {"outcome", "since", "limit", "client"}
    resp = await client.get(f"/integrated-account/acct_2/mcp/{mcp_id}/activity", headers=AUTH)
    assert resp.status == 404
    assert (await client.get(path)).status == 401


async def test_openapi_documents_the_activity_route(admin: tuple[TestClient[Any, Any], str]) -> None:
    client, _ = admin
    document = await (await client.get("/openapi.json")).json()
    validate(document)
    op = document["paths"]["/integrated-account/{account_id}/mcp/{mcp_id}/activity"]["get"]
    assert op["operationId"] == "list_activity"
    names = {p["name"] for p in op["parameters"]}
    assert names >= {"limit", "next_cursor", "tool", "outcome", "client", "since", "until", "format"}
    assert set(op["responses"]["200"]["content"]) == {"application/json", "text/csv"}


async def test_the_server_object_shows_its_latest_call_and_calls_of_the_last_day(
    admin: tuple[TestClient[Any, Any], str],
) -> None:
    client, mcp_id = admin
    store = client.app[_AUDIT]
    now_ms = int(time.time() * 1000)
    hours_ago = (1, 2, 30)
    await store.append(
        [AuditRecord(now_ms - h * 3_600_000, mcp_id, "echo", "ok", latency_ms=1) for h in hours_ago]
    )
    got = await (await client.get(f"/integrated-account/acct_1/mcp/{mcp_id}", headers=AUTH)).json()
    assert got["calls_24h"] == 2
    assert abs(datetime.fromisoformat(got["last_call_at"]).timestamp() * 1000 - (now_ms - 3_600_000)) < 1000
    listed = await (await client.get("/integrated-account/acct_1/mcp", headers=AUTH)).json()
    assert [s["calls_24h"] for s in listed["result"]] == [2]


async def test_audit_payloads_is_part_of_the_config(admin: tuple[TestClient[Any, Any], str]) -> None:
    client, _ = admin
    body = {"name": "kept", "config": {"audit_payloads": True}}
    resp = await client.post("/integrated-account/acct_1/mcp", json=body, headers=AUTH)
    assert resp.status == 201 and (await resp.json())["config"]["audit_payloads"] is True
    body = {"name": "bad", "config": {"audit_payloads": "yes"}}
    resp = await client.post("/integrated-account/acct_1/mcp", json=body, headers=AUTH)
    assert resp.status == 400


async def test_an_account_whose_credential_gumloop_refused_needs_reconnection(
    admin: tuple[TestClient[Any, Any], str],
) -> None:
    """The latest telling call of any of its servers decides; a later successful call clears it."""
    client, mcp_id = admin
    store = client.app[_AUDIT]
    account = {"display_name": "Team", "user_id": "u1", "api_key": "k"}
    assert (await client.post("/integrated-account", json=account, headers=AUTH)).status == 201
    got = await (await client.get("/integrated-account/acct_1", headers=AUTH)).json()
    assert (got["state"], got["credentials_rejected_at"]) == ("active", None)
    resp = await client.post("/integrated-account/acct_1/mcp", json={"name": "b"}, headers=AUTH)
    other = (await resp.json())["id"]
    refused_ms = BASE_MS + 60_000
    await store.append(
        [
            AuditRecord(refused_ms, other, "list_flows", "credentials_rejected", latency_ms=3),
            AuditRecord(refused_ms + 5, mcp_id, "echo", "tool_error", latency_ms=1),  # says nothing
        ]
    )
    got = await (await client.get("/integrated-account/acct_1", headers=AUTH)).json()
    assert got["state"] == "needs_reconnection"
    assert datetime.fromisoformat(got["credentials_rejected_at"]).timestamp() * 1000 == refused_ms
    listed = await (await client.get("/integrated-account", headers=AUTH)).json()
    assert {a["id"]: a["state"] for a in listed["result"]}["acct_1"] == "needs_reconnection"
    await store.append([AuditRecord(refused_ms + 10, mcp_id, "echo", "ok", latency_ms=1)])
    got = await (await client.get("/integrated-account/acct_1", headers=AUTH)).json()
    assert (got["state"], got["credentials_rejected_at"]) == ("active", None)
