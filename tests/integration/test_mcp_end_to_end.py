"""The whole stack in containers, driven from outside as users do: management API + official MCP client.

Mint a server over the management API, connect with mcp's Streamable HTTP client, run the two seed
scenarios against the emulator, revoke, share a session between two façade replicas, and survive a
proxy outage and a Redis restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from mcp import ClientSession

from .conftest import EMULATOR_KEY, EMULATOR_USER, Stack, serving_count, wait_redis, wait_serving_again

try:
    from mcp.client.streamable_http import streamable_http_client as _transport
except ImportError:  # older SDKs
    from mcp.client.streamable_http import streamablehttp_client as _transport  # type: ignore[no-redef]

_API_TOKEN = re.compile(r"gmcpat_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}")
CALL_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def api_token(full_stack: Stack) -> str:
    """A management API token minted with the CLI inside the token service container."""
    code, out = full_stack.containers["tokens"].exec(
        ["gumloop-mcp", "admin", "create-api-token", "--name", "integration-suite"]
    )
    text = out.decode(errors="replace")
    assert code == 0, text
    match = _API_TOKEN.search(text)
    assert match, f"no API token in the CLI's output: {text}"
    return match.group(0)


@pytest.fixture(scope="module")
def admin(full_stack: Stack, api_token: str) -> httpx.Client:
    """An HTTP client for the management API on the façade's admin port."""
    client = httpx.Client(
        base_url=full_stack.url("admin"), headers={"Authorization": f"Bearer {api_token}"}, timeout=30
    )
    yield client
    client.close()


@pytest.fixture(scope="module")
def account_id(admin: httpx.Client) -> str:
    """An integrated account whose upstream is the emulator container."""
    reply = admin.post(
        "/integrated-account",
        json={
            "display_name": "integration",
            "api_key": EMULATOR_KEY,
            "user_id": EMULATOR_USER,
            "api_base_url": "http://emulator:8090/api/v1",
            "stream_base_url": "http://emulator:8090/ws/api/v1",
        },
    )
    assert reply.status_code in (200, 201), reply.text
    return str(reply.json()["id"])


def mint(admin: httpx.Client, account_id: str, name: str, methods: list[str] | None = None) -> dict[str, Any]:
    """Mint an MCP server over the management API; returns {id, name, config, expires_at, url}."""
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    body = {
        "name": name,
        "config": {"methods": methods or ["read", "write"], "tags": []},
        "expires_at": expires,
        "require_api_token_auth": False,
    }
    # 503 means "retry shortly" (e.g. the token service's channel to a restarted proxy reconnecting)
    deadline = time.monotonic() + 30
    while True:
        reply = admin.post(f"/integrated-account/{account_id}/mcp", json=body)
        if reply.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert reply.status_code in (200, 201), reply.text
    minted = reply.json()
    assert {"id", "name", "config", "expires_at", "url"} <= set(minted)
    return dict(minted)


def local_url(stack: Stack, minted_url: str) -> str:
    """The minted URL's path on the façade's published port (the public base URL is the cluster's)."""
    return stack.url("facade") + urlsplit(minted_url).path


@contextlib.asynccontextmanager
async def mcp_session(url: str) -> AsyncIterator[ClientSession]:
    """An initialized MCP session over Streamable HTTP."""
    async with _transport(url) as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        yield session


def is_error(result: Any) -> bool:
    """A tool result's error flag (`is_error` in SDK 2.x, `isError` before)."""
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", False))


def payload(result: Any) -> Any:
    """A tool result's structured content, else its text parsed as JSON, else the text."""
    structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
    if structured:
        return structured
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    try:
        return json.loads(text)
    except ValueError:
        return text


def walk(value: Any) -> list[dict[str, Any]]:
    """Every dict nested anywhere in a JSON value."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found.extend(walk(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(walk(item))
    return found


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> Any:
    """Call a tool that must succeed; return its payload."""
    result = await session.call_tool(name, arguments, read_timeout_seconds=CALL_TIMEOUT_S)
    assert not is_error(result), f"{name} failed: {result.content}"
    return payload(result)


async def test_a_minted_server_lists_and_calls_tools_over_streamable_http(full_stack, admin, account_id):
    """The official MCP client initializes, lists the scoped tools and calls one."""
    server = mint(admin, account_id, "it-list")
    async with mcp_session(local_url(full_stack, server["url"])) as session:
        tools = {t.name for t in (await session.list_tools()).tools}
        assert {"list_all_gumloop_automation_runs", "get_single_gumloop_run_by_id"} <= tools
        assert all(len(name) <= 64 for name in tools)
        automations = await call(session, "list_all_gumloop_automations", {})
        assert [d for d in walk(automations) if "saved_item_id" in d]


async def test_a_read_only_server_never_generates_write_tools(full_stack, admin, account_id):
    """methods: ["read"] leaves create/update/delete tools out of tools/list."""
    server = mint(admin, account_id, "it-read-only", methods=["read"])
    async with mcp_session(local_url(full_stack, server["url"])) as session:
        tools = {t.name for t in (await session.list_tools()).tools}
    assert "list_all_gumloop_automation_runs" in tools
    assert not [t for t in tools if t.startswith(("create_a_", "update_a_", "delete_a_"))]


async def test_seed_scenario_find_yesterdays_failed_run_and_explain_it_from_its_logs(
    full_stack, admin, account_id
):
    """list automations -> their runs -> the FAILED one -> its log names the cause."""
    server = mint(admin, account_id, "it-failed-run", methods=["read"])
    async with mcp_session(local_url(full_stack, server["url"])) as session:
        automations = await call(session, "list_all_gumloop_automations", {})
        failed: list[str] = []
        for item in [d for d in walk(automations) if "saved_item_id" in d]:
            runs = await call(
                session, "list_all_gumloop_automation_runs", {"saved_item_id": item["saved_item_id"]}
            )
            failed += [d["run_id"] for d in walk(runs) if d.get("state") == "FAILED" and "run_id" in d]
        assert failed, "the emulator's seed has a failed run"
        run = await call(session, "get_single_gumloop_run_by_id", {"run_id": failed[0]})
    runs = [d for d in walk(run) if d.get("state") == "FAILED"]
    assert runs
    log = "\n".join(str(line) for line in runs[0].get("log", []))
    assert re.search(r"error|fail", log, re.I), log


async def test_seed_scenario_deploy_a_skill_run_a_session_and_list_its_artifacts(
    full_stack, admin, account_id
):
    """create skill -> attach to an agent -> session -> wait until completed -> artifacts of that session."""
    server = mint(admin, account_id, "it-skill-session")
    async with mcp_session(local_url(full_stack, server["url"])) as session:
        skill_md = (
            "---\nname: quarterly-report\ndescription: Writes the quarterly report.\n---\n"
            "# Steps\n1. Write.\n"
        )
        skill = await call(
            session,
            "create_a_gumloop_skill",
            {"files": [{"filename": "SKILL.md", "content_text": skill_md, "media_type": "text/markdown"}]},
        )
        skill_id = next(d["id"] for d in walk(skill) if "id" in d)
        agents = await call(session, "list_all_gumloop_agents", {})
        agent_id = next(d["id"] for d in walk(agents) if "id" in d)
        await call(
            session, "update_a_gumloop_agent_skills_by_id", {"agent_id": agent_id, "attach": [skill_id]}
        )
        started = await call(
            session,
            "create_a_gumloop_session",
            {"agent_id": agent_id, "input": "Write the quarterly report."},
        )
        session_id = next(d["id"] for d in walk(started) if "id" in d and "state" in d)
        deadline = time.monotonic() + 60
        while True:
            state = await call(
                session, "get_single_gumloop_session_by_id", {"session_id": session_id, "wait_seconds": 10}
            )
            states = [d["state"] for d in walk(state) if d.get("id") == session_id and "state" in d]
            if states and states[0] in {"completed", "failed", "idle"}:
                break
            assert time.monotonic() < deadline, f"session still {states}"
        assert states[0] == "completed"
        artifacts = await call(
            session, "list_all_gumloop_artifacts", {"agent_id": agent_id, "session_id": session_id}
        )
    media = {d.get("media_type") for d in walk(artifacts) if d.get("media_type")}
    assert len(media) >= 2, artifacts


async def test_a_revoked_server_is_refused_within_a_second(full_stack, admin, account_id):
    """DELETE over the management API; the same URL answers 404 in under a second."""
    server = mint(admin, account_id, "it-revoke")
    url = local_url(full_stack, server["url"])
    async with mcp_session(url) as session:
        assert (await session.list_tools()).tools
    reply = admin.delete(f"/integrated-account/{account_id}/mcp/{server['id']}")
    assert reply.status_code in (200, 204), reply.text
    revoked_at = time.monotonic()
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "it", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=5) as client:
        while True:
            status = client.post(url, json=initialize, headers=headers).status_code
            if status == 404:
                break
            assert time.monotonic() - revoked_at < 1.0, f"still {status} a second after revocation"
            await asyncio.sleep(0.05)
    assert time.monotonic() - revoked_at < 1.0


async def test_a_proxy_outage_is_a_clear_tool_error_and_calls_recover_when_it_returns(
    full_stack, admin, account_id
):
    """Stop the proxy: the call fails fast with an error; start it: the same session works again."""
    server = mint(admin, account_id, "it-proxy-outage", methods=["read"])
    proxy = full_stack.containers["proxy"].get_wrapped_container()
    async with mcp_session(local_url(full_stack, server["url"])) as session:
        await call(session, "list_all_gumloop_automations", {})
        before = serving_count(full_stack.containers["proxy"])
        proxy.stop(timeout=5)
        try:
            started = time.monotonic()
            result = await session.call_tool(
                "list_all_gumloop_automations", {}, read_timeout_seconds=CALL_TIMEOUT_S
            )
            assert is_error(result)
            assert time.monotonic() - started < 20, "the failing call hung"
            text = " ".join(getattr(c, "text", "") for c in result.content).lower()
            assert re.search(r"unavailable|try again|proxy|upstream", text), text
        finally:
            proxy.start()
            wait_serving_again(full_stack.containers["proxy"], "proxy", before)
        deadline = time.monotonic() + 20
        while True:
            result = await session.call_tool(
                "list_all_gumloop_automations", {}, read_timeout_seconds=CALL_TIMEOUT_S
            )
            if not is_error(result):
                break
            assert time.monotonic() < deadline, f"calls did not recover: {result.content}"
            await asyncio.sleep(0.5)


def _rpc(client: httpx.Client, url: str, session_id: str | None, method: str, params: dict[str, Any]) -> Any:
    """One JSON-RPC request over Streamable HTTP (session revisions); returns the HTTP response."""
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return client.post(url, json=body, headers=headers)


def test_two_facade_replicas_serve_one_session_and_share_its_end(full_stack, admin, account_id):
    """A session opened on one replica calls tools on the other; DELETE on either ends it on both."""
    server = mint(admin, account_id, "it-two-replicas", methods=["read"])
    path = urlsplit(server["url"]).path
    one, two = full_stack.url("facade") + path, full_stack.url("facade2") + path
    with httpx.Client(timeout=CALL_TIMEOUT_S) as client:
        opened = _rpc(
            client,
            one,
            None,
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "it", "version": "1"},
            },
        )
        assert opened.status_code == 200, opened.text
        session_id = opened.headers["Mcp-Session-Id"]
        assert opened.json()["result"]["protocolVersion"] == "2025-11-25"
        called = _rpc(
            client, two, session_id, "tools/call", {"name": "list_all_gumloop_teams", "arguments": {}}
        )
        assert called.status_code == 200, called.text
        assert called.json()["result"].get("isError") is not True, called.text
        ended = client.delete(
            two, headers={"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
        )
        assert ended.status_code in (200, 202, 204), ended.text
        for url in (one, two):
            after = _rpc(client, url, session_id, "tools/list", {})
            assert after.status_code == 404, f"{url}: {after.status_code} {after.text}"


async def test_no_token_is_lost_when_redis_restarts(full_stack, admin, account_id):
    """The MCP URL minted before a Redis restart still works after it."""
    server = mint(admin, account_id, "it-redis-restart")
    url = local_url(full_stack, server["url"])
    redis = full_stack.containers["redis"]
    redis.get_wrapped_container().restart(timeout=10)
    wait_redis(redis)
    deadline = time.monotonic() + 30
    while True:
        try:
            async with mcp_session(url) as session:
                tools = (await session.list_tools()).tools
            break
        except Exception:
            assert time.monotonic() < deadline, "the URL did not work again after the Redis restart"
            await asyncio.sleep(0.5)
    assert tools
