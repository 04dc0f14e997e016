"""End to end: `gumloop-mcp up`, the management API, and the official MCP client over the real stack."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from .conftest import ROOT, Stack

ACCOUNT_PATH = "/integrated-account/{account}/mcp"
STATUS_TOOL = "get_single_gumloop_session_by_id"


@asynccontextmanager
async def session(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """An initialized official-SDK session over streamable HTTP."""
    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(60)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


async def mint(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """Create an MCP server over the management API; the response carries its url."""
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        path = ACCOUNT_PATH.format(account=stack.ready["account_id"])
        resp = await http.post(stack.admin + path, json=body, headers=stack.auth)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


async def tool_names(url: str, headers: dict[str, str] | None = None) -> set[str]:
    async with session(url, headers) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data: dict[str, Any] = result.structured_content
    return data


async def test_full_scope_demo_server_lists_and_calls_tools(stack: Stack) -> None:
    """The demo server from `up` shows create/delete tools and list_all_gumloop_teams answers."""
    names = await tool_names(stack.ready["mcp_url"])
    assert "list_all_gumloop_teams" in names
    assert any(n.startswith("create_") for n in names) and any(n.startswith("delete_") for n in names)
    async with session(stack.ready["mcp_url"]) as client:
        teams = structured(await client.call_tool("list_all_gumloop_teams", {}))
    assert teams


async def test_read_only_server_hides_writes(stack: Stack) -> None:
    """methods=["read"] lists no create/update/delete tool."""
    created = await mint(stack, {"name": "read only", "config": {"methods": ["read"]}})
    names = await tool_names(created["url"])
    assert names and "list_all_gumloop_teams" in names
    assert not [n for n in names if n.startswith(("create_", "update_", "delete_"))]


async def test_tag_scoped_server_shows_only_that_tag(stack: Stack) -> None:
    """tags=["teams"] lists the teams tools only."""
    created = await mint(stack, {"name": "teams", "config": {"tags": ["teams"]}})
    names = await tool_names(created["url"])
    assert names and all("team" in n for n in names), names


async def test_out_of_scope_call_is_rejected_like_an_unknown_tool(stack: Stack) -> None:
    """Calling a write tool on a read-only server fails the same way as a made-up name."""
    created = await mint(stack, {"name": "ro2", "config": {"methods": ["read"]}})
    errors: list[tuple[int, str]] = []
    async with session(created["url"]) as client:
        for name in ("create_a_gumloop_skill", "no_such_tool_at_all"):
            with pytest.raises(MCPError) as caught:
                await client.call_tool(name, {})
            errors.append((caught.value.code, str(caught.value).replace(name, "X")))
    assert errors[0] == errors[1]


async def test_deleted_server_is_404_within_a_second(stack: Stack) -> None:
    """After DELETE, the URL stops working within one second."""
    created = await mint(stack, {"name": "short lived"})
    assert await tool_names(created["url"])
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10)) as http:
        path = ACCOUNT_PATH.format(account=stack.ready["account_id"]) + f"/{created['id']}"
        assert (await http.delete(stack.admin + path, headers=stack.auth)).status_code == 204
        deadline = time.monotonic() + 1.0
        status = 0
        init = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = {"Accept": "application/json, text/event-stream"}
        while time.monotonic() < deadline:
            status = (await http.post(created["url"], json=init, headers=headers)).status_code
            if status == 404:
                break
            await asyncio.sleep(0.05)
    assert status == 404
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10)) as http:
        assert (await http.get(stack.admin + path, headers=stack.auth)).status_code == 404


async def test_second_factor_required_401_without_and_works_with_api_token(stack: Stack) -> None:
    """require_api_token_auth: 401 without a bearer API token, tools with one."""
    created = await mint(stack, {"name": "2fa", "require_api_token_auth": True})
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10)) as http:
        resp = await http.post(
            created["url"],
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert resp.status_code == 401
    assert await tool_names(created["url"], stack.auth)


async def test_management_bad_input_names_the_fields(stack: Stack) -> None:
    """A bad method group and an empty name are 400 with field details."""
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10)) as http:
        path = stack.admin + ACCOUNT_PATH.format(account=stack.ready["account_id"])
        bad = await http.post(path, json={"name": "x", "config": {"methods": ["bogus"]}}, headers=stack.auth)
        empty = await http.post(path, json={"name": ""}, headers=stack.auth)
        anonymous = await http.get(path)
    assert bad.status_code == 400 and bad.json()["error"]["fields"][0]["field"].startswith("config.methods")
    assert empty.status_code == 400 and empty.json()["error"]["fields"][0]["field"] == "name"
    assert anonymous.status_code == 401


async def test_seed_scenario_failed_run_explained_from_logs(stack: Stack) -> None:
    """Seed scenario 1: find a FAILED automation run and read the log that explains it."""
    async with session(stack.ready["mcp_url"]) as client:
        runs: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(20):
            args: dict[str, Any] = {"limit": 50} | ({"cursor": cursor} if cursor else {})
            page = structured(await client.call_tool("list_all_gumloop_automation_runs", args))
            runs += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        failed = [r for r in runs if str(r.get("state", "")).upper() == "FAILED"]
        assert failed
        run = structured(
            await client.call_tool(
                "get_single_gumloop_run_by_id", {"run_id": failed[0]["run_id"], "wait_seconds": 5}
            )
        )
    assert run["state"] == "FAILED" and run["log"]


async def test_no_raw_token_in_the_logs(stack: Stack) -> None:
    """Nothing the services logged contains an MCP URL token, API token or the emulator key."""
    await test_read_only_server_hides_writes(stack)
    logs = stack.logs()
    assert logs, "the services log to stderr"
    raw = (
        stack.ready["api_token"],
        stack.ready["mcp_url"].rsplit("/", 1)[-1],
        "gl-emulator-key",
        "gl-e2e-unused",
    )
    for secret in raw:
        assert secret not in logs
    assert not re.search(r"gmcp(at)?_[A-Za-z0-9]{30,}", logs)


def _first_id(obj: dict[str, Any], *keys: str) -> str:
    """The first present id field (the emulator's shapes follow the Gumloop API's naming)."""
    for key in keys:
        if obj.get(key):
            return str(obj[key])
    raise AssertionError(f"none of {keys} in {sorted(obj)}")


SKILL_MD = "---\nname: e2e-report\ndescription: Writes a short report.\n---\n\nWrite a report.\n"


async def test_seed_scenario_skill_session_artifacts(stack: Stack) -> None:
    """Seed scenario 2: deploy a skill, attach it, start a session, wait for it, read its artifacts."""
    async with session(stack.ready["mcp_url"]) as client:
        skill_out = structured(
            await client.call_tool(
                "create_a_gumloop_skill",
                {
                    "files": [
                        {"filename": "SKILL.md", "content_text": SKILL_MD, "media_type": "text/markdown"}
                    ]
                },
            )
        )
        skill = skill_out.get("skill", skill_out)
        skill_id = _first_id(skill, "skill_id", "id")
        agents = structured(await client.call_tool("list_all_gumloop_agents", {}))["items"]
        agent_id = _first_id(agents[0], "agent_id", "id")
        structured(
            await client.call_tool(
                "update_a_gumloop_agent_skills_by_id", {"agent_id": agent_id, "attach": [skill_id]}
            )
        )
        started = structured(
            await client.call_tool(
                "create_a_gumloop_session", {"agent_id": agent_id, "input": "Write the e2e report."}
            )
        )
        session_id = _first_id(started.get("session", started), "session_id", "id")
        done = structured(
            await client.call_tool(
                "get_single_gumloop_session_by_id", {"session_id": session_id, "wait_seconds": 30}
            )
        )
        state = str(done.get("session", done).get("state", done.get("status", ""))).lower()
        assert state in ("completed", "succeeded", "done"), done
        artifacts = structured(
            await client.call_tool(
                "list_all_gumloop_artifacts", {"agent_id": agent_id, "session_id": session_id}
            )
        )["items"]
        assert artifacts, "the session produced artifacts"
        artifact_id = _first_id(artifacts[0], "artifact_id", "id")
        read = await client.call_tool("get_single_gumloop_artifact_by_id", {"artifact_id": artifact_id})
    assert not read.is_error and read.content


LOG_PARSER_MD = (
    "---\nname: log-parser\ndescription: Log Parser - reads application logs and reports the errors.\n"
    "---\n\n# Log Parser\n\nGroup the ERROR lines by cause and write a short report.\n"
)


async def test_founding_scenario_log_parser_skill_agent_session_artifacts(stack: Stack) -> None:
    """Issue 12's founding scenario through MCP tools: deploy the 'Log Parser' skill, create an agent
    using it (attached at creation with skill_ids), start a session, wait for it, list its artifacts."""
    async with session(stack.ready["mcp_url"]) as client:
        deployed = structured(
            await client.call_tool(
                "create_a_gumloop_skill",
                {
                    "files": [
                        {"filename": "SKILL.md", "content_text": LOG_PARSER_MD, "media_type": "text/markdown"}
                    ]
                },
            )
        )["skill"]
        assert deployed["name"] == "log-parser" and "Log Parser" in deployed["description"]
        skill_id = str(deployed["id"])
        created = structured(
            await client.call_tool(
                "create_a_gumloop_agent",
                {"name": "Log triage", "model_name": "anthropic/claude-sonnet-4", "skill_ids": [skill_id]},
            )
        )["agent"]
        agent_id = str(created["id"])
        fetched = structured(await client.call_tool("get_single_gumloop_agent_by_id", {"agent_id": agent_id}))
        assert skill_id in fetched["agent"]["skill_ids"]
        started = structured(
            await client.call_tool(
                "create_a_gumloop_session", {"agent_id": agent_id, "input": "Parse today's service logs."}
            )
        )
        session_id = str(started["session"]["id"])
        waited = await client.call_tool(STATUS_TOOL, {"session_id": session_id, "wait_seconds": 30})
        done = structured(waited)["session"]
        assert done["state"] == "completed", waited.content
        assert "used skills: log-parser" in done["messages"][-1]["content"]
        listed = structured(
            await client.call_tool(
                "list_all_gumloop_artifacts", {"agent_id": agent_id, "session_id": session_id}
            )
        )["items"]
    assert listed and {a["session_id"] for a in listed} == {session_id}
    assert all(a["filename"] and a["metadata"]["size"] > 0 for a in listed)


async def test_admin_create_api_token_mints_a_working_management_token(stack: Stack) -> None:
    """`gumloop-mcp admin create-api-token` prints a token the management API accepts."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gumloop_mcp.cli", "admin", "create-api-token", "--name", "e2e-admin",
        "--tokens-target", stack.ready["tokens_grpc"], "--data-dir", str(stack.stderr_path.parent / "data"),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    minted = json.loads(out)
    assert minted["token"].startswith("gmcpat_") and minted["name"] == "e2e-admin"
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10)) as http:
        resp = await http.get(
            stack.admin + "/api-tokens", headers={"Authorization": f"Bearer {minted['token']}"}
        )
    assert resp.status_code == 200
    assert minted["id"] in {t["id"] for t in resp.json()["result"]}


def test_data_directory_is_private_and_ignored(stack: Stack) -> None:
    """Every directory `up` writes is 0700 and every file 0600 (SQLite files and journals included),
    and the default data directory is in .gitignore, so `git add -A` cannot commit the secrets."""
    data_dir = stack.stderr_path.parent / "data"  # start_stack's --data-dir
    found = list(data_dir.rglob("*"))
    assert any(p.suffix == ".sqlite3" for p in found), found
    wrong = [
        (str(p.relative_to(data_dir)), oct(p.stat().st_mode & 0o777))
        for p in [data_dir, *found]
        if (p.stat().st_mode & 0o777) != (0o700 if p.is_dir() else 0o600)
    ]
    assert wrong == []
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".gumloop-mcp/api-token"], cwd=ROOT, capture_output=True
    )
    assert ignored.returncode == 0, "the default data directory is not in .gitignore"
