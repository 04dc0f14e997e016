"""The audit trail end to end: tool calls through `up`'s real stack show in GET .../activity."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from .conftest import Stack
from .test_system import STATUS_TOOL, mint, session

SECRET_ARGUMENT = "ses_customer-secret-4711"


async def _activity(stack: Stack, mcp_id: str, **params: str) -> httpx2.Response:
    path = f"/integrated-account/{stack.ready['account_id']}/mcp/{mcp_id}/activity"
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        return await http.get(stack.admin + path, params=params, headers=stack.auth)


async def _wait_for(stack: Stack, mcp_id: str, count: int) -> list[dict[str, Any]]:
    """The trail once it holds `count` records (the writer runs off the call path)."""
    deadline = time.monotonic() + 15
    while True:
        resp = await _activity(stack, mcp_id, limit="100")
        assert resp.status_code == 200, resp.text
        records: list[dict[str, Any]] = resp.json()["result"]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.1)


async def test_tool_calls_are_listed_paged_and_exported_without_arguments(stack: Stack) -> None:
    created = await mint(stack, {"name": "audited"})
    mcp_id, url = created["id"], created["url"]
    token = url.rsplit("/", 1)[1]
    async with session(url) as client:
        teams = await client.call_tool("list_all_gumloop_teams", {})
        assert not teams.is_error
        await client.call_tool(STATUS_TOOL, {"session_id": SECRET_ARGUMENT})
        with pytest.raises(MCPError):
            await client.call_tool("no_such_tool_at_all", {"x": SECRET_ARGUMENT})

    records = await _wait_for(stack, mcp_id, 3)
    assert [r["tool"] for r in records] == ["no_such_tool_at_all", STATUS_TOOL, "list_all_gumloop_teams"]
    assert records[0]["outcome"] == "unknown_tool" and records[2]["outcome"] == "ok"
    assert records[1]["outcome"] in ("ok", "tool_error")
    assert all(r["client_name"] == "mcp" and r["protocol_version"] for r in records)
    assert all(r["latency_ms"] >= 0 and r["server_id"] == mcp_id for r in records)
    assert all(r["arguments"] is None and r["result"] is None for r in records)

    first = (await _activity(stack, mcp_id, limit="2")).json()
    assert [r["id"] for r in first["result"]] == [r["id"] for r in records[:2]]
    second = (await _activity(stack, mcp_id, limit="2", next_cursor=first["next_cursor"])).json()
    assert [r["id"] for r in second["result"]] == [records[2]["id"]] and second["next_cursor"] is None
    only_ok = (await _activity(stack, mcp_id, outcome="unknown_tool")).json()["result"]
    assert [r["tool"] for r in only_ok] == ["no_such_tool_at_all"]

    export = await _activity(stack, mcp_id, format="csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [row["tool"] for row in rows] == [r["tool"] for r in records]
    assert [float(row["latency_ms"]) for row in rows] == [r["latency_ms"] for r in records]

    server = await _server(stack, mcp_id)
    assert server["calls_24h"] == 3 and server["last_call_at"]
    for text in (export.text, str(records)):
        assert SECRET_ARGUMENT not in text and token not in text


async def _server(stack: Stack, mcp_id: str) -> dict[str, Any]:
    path = f"/integrated-account/{stack.ready['account_id']}/mcp/{mcp_id}"
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        resp = await http.get(stack.admin + path, headers=stack.auth)
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def test_the_audit_file_is_in_the_data_directory_and_private(stack: Stack) -> None:
    path = stack.stderr_path.parent / "data" / "facade-audit.sqlite3"
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
