"""The whole stack in containers, driven from outside as users do: management API + official MCP client.

Mint a server over the management API, connect with mcp's Streamable HTTP client, run the two seed
scenarios against the emulator, revoke (on every replica), share a session between two façade replicas,
and survive the proxy dying mid-call and Redis being killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
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


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "it", "version": "1"},
    },
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


async def test_a_revoked_server_is_refused_by_every_facade_replica_within_a_second(
    full_stack, admin, account_id
):
    """Both replicas resolved (and cached) the URL; after the management API DELETE both 404 within 1 s."""
    server = mint(admin, account_id, "it-revoke")
    path = urlsplit(server["url"]).path
    replicas = {"facade": full_stack.url("facade") + path, "facade2": full_stack.url("facade2") + path}
    for url in replicas.values():
        async with mcp_session(url) as session:
            assert (await session.list_tools()).tools
    reply = admin.delete(f"/integrated-account/{account_id}/mcp/{server['id']}")
    assert reply.status_code in (200, 204), reply.text
    revoked_at = time.monotonic()
    refused_after: dict[str, float] = {}
    last: dict[str, int] = {}
    with httpx.Client(timeout=5) as client:
        while len(refused_after) < len(replicas):
            for name, url in replicas.items():
                if name in refused_after:
                    continue
                last[name] = client.post(url, json=INITIALIZE, headers=MCP_ACCEPT).status_code
                if last[name] == 404:
                    refused_after[name] = time.monotonic() - revoked_at
            waited = time.monotonic() - revoked_at
            assert waited < 1.0, f"a second after revocation: refused {refused_after}, still answering {last}"
            await asyncio.sleep(0.05)
    assert max(refused_after.values()) < 1.0, refused_after


# The façade gives every request GMCP_FACADE_REQUEST_DEADLINE_S (15 s in conftest); a proxy outage must
# end the call well before that, or fail-fast cannot be told from the deadline.
OUTAGE_ERROR_WITHIN_S = 5.0
OUTAGE_WAIT_S = 10


def _started(stack: Stack, *, but: str) -> dict[str, tuple[str, str, int]]:
    """Per container except `but`: (id, State.StartedAt, RestartCount), which change when it restarts."""
    out: dict[str, tuple[str, str, int]] = {}
    for name, container in stack.containers.items():
        if name == but:
            continue
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        assert wrapped.status == "running", f"{name} is {wrapped.status}"
        out[name] = (wrapped.id, wrapped.attrs["State"]["StartedAt"], wrapped.attrs["RestartCount"])
    return out


@contextlib.contextmanager
def emulator_fault(stack: Stack, rule: dict[str, Any]) -> Iterator[None]:
    """An emulator fault rule (/__emulator/faults) for the duration of the block."""
    with httpx.Client(base_url=stack.url("emulator"), timeout=5) as client:
        reply = client.post("/__emulator/faults", json=rule)
        assert reply.status_code == 201, reply.text
        try:
            yield
        finally:
            client.delete("/__emulator/faults").raise_for_status()


async def test_a_proxy_killed_mid_call_is_a_prompt_tool_error_and_calls_recover_when_it_returns(
    full_stack, admin, account_id
):
    """A get tool waiting on a running run; the proxy container is killed 1 s in: the call ends in a tool
    error saying the backend is unavailable within a few seconds (not the wait's end, not the deadline);
    once the proxy is started again, the same session's calls succeed with nothing else restarted."""
    server = mint(admin, account_id, "it-proxy-outage", methods=["read"])
    proxy = full_stack.containers["proxy"]
    others = _started(full_stack, but="proxy")
    async with mcp_session(local_url(full_stack, server["url"])) as session:
        automations = await call(session, "list_all_gumloop_automations", {})
        run_id = saved_item_id = ""
        for item in [d for d in walk(automations) if "saved_item_id" in d]:
            saved_item_id = item["saved_item_id"]
            runs = await call(session, "list_all_gumloop_automation_runs", {"saved_item_id": saved_item_id})
            run_id = next((d["run_id"] for d in walk(runs) if "run_id" in d), "")
            if run_id:
                break
        assert run_id, "the emulator's seed has runs"
        # The emulator (time scale 0.1) finishes real runs in 0.3 s; this rule keeps the run RUNNING,
        # so the façade's wait (wait_seconds=10, polls at 0, 0.5, 1.3, 2.6 s...) cannot end by itself.
        running = {
            "run_id": run_id,
            "saved_item_id": saved_item_id,
            "state": "RUNNING",
            "log": [],
            "outputs": {},
        }
        rule = {
            "match": {"path_prefix": "/api/v1/get_pl_run"},
            "kind": "status",
            "status": 200,
            "body": running,
            "count": -1,
        }
        before = serving_count(proxy)
        try:
            with emulator_fault(full_stack, rule):
                polled = asyncio.Event()

                async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                    polled.set()

                started = time.monotonic()
                waiting = asyncio.create_task(
                    session.call_tool(
                        "get_single_gumloop_run_by_id",
                        {"run_id": run_id, "wait_seconds": OUTAGE_WAIT_S},
                        read_timeout_seconds=CALL_TIMEOUT_S,
                        progress_callback=on_progress,
                    )
                )
                await asyncio.wait_for(polled.wait(), 5)  # the wait loop reported state RUNNING
                await asyncio.sleep(max(0.0, started + 1.0 - time.monotonic()))
                assert not waiting.done(), f"the call ended before the outage: {waiting.result()}"
                proxy.get_wrapped_container().kill()  # SIGKILL: a crash, no graceful drain
                killed_at = time.monotonic()
                try:
                    result = await waiting
                except Exception as err:  # a JSON-RPC error or a broken transport, not a tool result
                    pytest.fail(f"the call during the outage did not end as a tool result: {err!r}")
                ended_after = time.monotonic() - killed_at
            text = " ".join(getattr(c, "text", "") for c in result.content)
            assert is_error(result), f"not a tool error after {ended_after:.1f}s: {text}"
            assert ended_after < OUTAGE_ERROR_WITHIN_S, (
                f"the tool error came {ended_after:.1f}s after the proxy died (deadline 15 s, wait "
                f"{OUTAGE_WAIT_S} s): the façade did not fail fast: {text}"
            )
            assert re.search(r"\bunavailable\b", text, re.I), text
            structured = payload(result)
            assert isinstance(structured, dict) and structured.get("error") == "unavailable", structured
        finally:
            proxy.get_wrapped_container().start()
            wait_serving_again(proxy, "proxy", before)
        deadline = time.monotonic() + 20
        while True:
            result = await session.call_tool(
                "get_single_gumloop_run_by_id", {"run_id": run_id}, read_timeout_seconds=CALL_TIMEOUT_S
            )
            if not is_error(result):
                break
            assert time.monotonic() < deadline, f"calls did not recover: {result.content}"
            await asyncio.sleep(0.5)
        assert [d for d in walk(payload(result)) if d.get("run_id") == run_id and d.get("state") != "RUNNING"]
        await call(session, "list_all_gumloop_automations", {})
    assert _started(full_stack, but="proxy") == others, "a container other than the proxy restarted"


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


async def test_no_minted_token_is_lost_when_redis_is_killed(full_stack, admin, account_id):
    """Mint URLs, wait past the AOF's everysec fsync, SIGKILL Redis and start it again: every URL still
    lists tools. None was used before the kill, so no façade replica has it cached: each is read back
    from Redis's AOF."""
    servers = [mint(admin, account_id, f"it-redis-kill-{i}") for i in range(3)]
    minted_at = time.monotonic()
    redis = full_stack.containers["redis"]
    await asyncio.sleep(max(0.0, minted_at + 2.0 - time.monotonic()))
    redis.get_wrapped_container().kill()  # SIGKILL: no shutdown save, only what the AOF already has
    redis.get_wrapped_container().start()
    wait_redis(redis)
    with httpx.Client(timeout=10) as client:
        for number, server in enumerate(servers):
            # alternate replicas: both must resolve from Redis
            url = full_stack.url("facade" if number % 2 == 0 else "facade2") + urlsplit(server["url"]).path
            deadline = time.monotonic() + 30
            while True:
                try:
                    status = client.post(url, json=INITIALIZE, headers=MCP_ACCEPT).status_code
                except httpx.TransportError as err:
                    status = -1
                    assert time.monotonic() < deadline, f"{server['name']}: {err!r}"
                # 503 while the token service reconnects to Redis; 404 would mean the token is gone
                if status not in (503, -1) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert status == 200, (
                f"{server['name']} answers {status} after Redis was killed (404: token lost)"
            )
            async with mcp_session(url) as session:
                assert (await session.list_tools()).tools, server["name"]
