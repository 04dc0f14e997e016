"""Prompts, completion and resources (protocol/features.py over prompts/ and resources/): scope filtering,
argument errors and their JSON-RPC codes, with a fake toolbox that maps operations to tools."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.mcp_facade.contracts import ServerScope
from services.mcp_facade.protocol.features import RESOURCE_NOT_FOUND, Features
from services.mcp_facade.protocol.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError
from services.mcp_facade.protocol.live import LiveWork
from services.mcp_facade.resources.subscriptions import Subscriptions
from tests.fakes.operation_toolbox import ALL_OPS, FakeToolbox


class Ex:
    """The parts of protocol.Exchange features.py reads."""

    def __init__(self, *, modern: bool = False) -> None:
        self.scope = ServerScope(server_id="mcp_1", account_id="acct_1", name="s")
        self.modern = modern
        self.version = "2026-07-28" if modern else "2025-11-25"
        self.conn_key = "conn_1"
        self.session = None
        self.token = ""
        self.second_factor = None


async def _free() -> None:
    return None


def features(ops: dict[str, str] | None = None, **kw: Any) -> tuple[Features, FakeToolbox]:
    box = FakeToolbox(ALL_OPS if ops is None else ops, **kw)
    return Features(box, LiveWork(), poll_interval_s=0.01), box


async def call(f: Features, method: str, params: dict[str, Any], ex: Ex | None = None) -> dict[str, Any]:
    return await f.handle(method, params, ex or Ex(), _free)


async def test_a_prompt_is_offered_only_when_its_operations_are_in_scope() -> None:
    f, _ = features()
    names = [p["name"] for p in (await call(f, "prompts/list", {}))["prompts"]]
    assert names == ["diagnose_failed_run", "deploy_skill_and_run_agent", "summarise_agent_sessions"]
    only_runs, _ = features({"get_pl_run": ALL_OPS["get_pl_run"]})
    assert [p["name"] for p in (await call(only_runs, "prompts/list", {}))["prompts"]] == [
        "diagnose_failed_run"
    ]
    with pytest.raises(JsonRpcError) as out_of_scope:
        await call(
            only_runs, "prompts/get", {"name": "summarise_agent_sessions", "arguments": {"agent_id": "a"}}
        )
    assert (out_of_scope.value.code, out_of_scope.value.message) == (
        INVALID_PARAMS,
        "Unknown prompt: summarise_agent_sessions",
    )


async def test_prompt_text_names_the_scopes_tools_and_only_in_scope_steps() -> None:
    only_runs, _ = features({"get_pl_run": ALL_OPS["get_pl_run"]})
    got = await call(
        only_runs, "prompts/get", {"name": "diagnose_failed_run", "arguments": {"run_id": "run_bad"}}
    )
    text = got["messages"][0]["content"]["text"]
    assert 'call `get_single_gumloop_run_by_id` with {"run_id": "run_bad"}' in text
    assert "list_all_gumloop_automation_runs" not in text  # out of scope: the step is left out
    discovery, _ = features(exposure="discovery")
    got = await call(discovery, "prompts/get", {"name": "diagnose_failed_run", "arguments": {"run_id": "r1"}})
    assert (
        'call `call_tool` with {"name": "get_single_gumloop_run_by_id", "arguments": {"run_id": "r1"}}'
        in got["messages"][0]["content"]["text"]
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "Missing required argument: run_id"),
        ({"run_id": "  "}, "Missing required argument: run_id"),
        ({"run_id": 5}, "argument 'run_id' must be a string"),
        ({"run_id": "r", "colour": "red"}, "has no argument 'colour'"),
        ("run_id=r", "`arguments` must be an object"),
    ],
)
async def test_prompt_argument_errors_are_invalid_params(arguments: Any, message: str) -> None:
    f, box = features()
    with pytest.raises(JsonRpcError) as err:
        await call(f, "prompts/get", {"name": "diagnose_failed_run", "arguments": arguments})
    assert err.value.code == INVALID_PARAMS and message in err.value.message
    assert box.calls == []


async def test_summary_limit_must_be_a_small_whole_number() -> None:
    f, _ = features()
    params = {"name": "summarise_agent_sessions", "arguments": {"agent_id": "a", "limit": "500"}}
    with pytest.raises(JsonRpcError, match="from 1 to 50"):
        await call(f, "prompts/get", params)
    params["arguments"]["limit"] = "3"
    text = (await call(f, "prompts/get", params))["messages"][0]["content"]["text"]
    assert '"limit": 3' in text


async def test_completion_reads_in_scope_list_operations_once_and_filters() -> None:
    f, box = features()
    ref = {"type": "ref/prompt", "name": "diagnose_failed_run"}
    first = await call(
        f, "completion/complete", {"ref": ref, "argument": {"name": "run_id", "value": "run_"}}
    )
    assert first["completion"] == {
        "values": ["run_bad", "run_ok"],
        "total": 2,
        "hasMore": False,
    }  # failed first
    again = await call(
        f, "completion/complete", {"ref": ref, "argument": {"name": "run_id", "value": "run_o"}}
    )
    assert again["completion"]["values"] == ["run_ok"]
    assert [name for name, _ in box.calls] == [ALL_OPS["list_automation_runs"]]  # the second was cached
    agents = await call(
        f,
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "summarise_agent_sessions"},
            "argument": {"name": "agent_id", "value": "supp"},
        },
    )
    assert agents["completion"]["values"] == ["agent_support"]  # matched by name


async def test_completion_returns_nothing_from_an_out_of_scope_list() -> None:
    f, box = features({"get_pl_run": ALL_OPS["get_pl_run"]})
    ref = {"type": "ref/prompt", "name": "diagnose_failed_run"}
    got = await call(f, "completion/complete", {"ref": ref, "argument": {"name": "run_id", "value": ""}})
    assert got["completion"] == {"values": [], "total": 0, "hasMore": False}
    assert box.calls == []
    with pytest.raises(JsonRpcError, match="has no argument 'agent_id'"):
        await call(f, "completion/complete", {"ref": ref, "argument": {"name": "agent_id", "value": ""}})
    with pytest.raises(JsonRpcError, match="`ref.type`"):
        await call(f, "completion/complete", {"ref": {"type": "ref/other"}, "argument": {}})


async def test_resource_templates_follow_the_scope() -> None:
    f, _ = features({"get_pl_run": ALL_OPS["get_pl_run"]})
    listed = await call(f, "resources/templates/list", {})
    assert [t["uriTemplate"] for t in listed["resourceTemplates"]] == ["gumloop://runs/{run_id}"]
    assert Features.capabilities(modern=True)["resources"]["subscribe"] is False
    assert Features.capabilities(modern=False)["resources"]["subscribe"] is True


@pytest.mark.parametrize(
    "uri",
    [
        "gumloop://sessions/s1",
        "gumloop://runs/run_gone",
        "gumloop://runs/../x",
        "gumloop://teams/t",
        "file:///etc/passwd",
    ],
)
async def test_unknown_malformed_or_out_of_scope_uris_are_not_found(uri: str) -> None:
    f, box = features({"get_pl_run": ALL_OPS["get_pl_run"]})  # get_session is out of scope
    with pytest.raises(JsonRpcError) as session_err:
        await call(f, "resources/read", {"uri": uri})
    assert session_err.value.code == RESOURCE_NOT_FOUND and uri in session_err.value.message
    with pytest.raises(JsonRpcError) as modern_err:
        await call(f, "resources/read", {"uri": uri}, Ex(modern=True))
    assert modern_err.value.code == INVALID_PARAMS  # 2026-07-28: not found is -32602
    assert all(name == ALL_OPS["get_pl_run"] for name, _ in box.calls)


async def test_read_returns_the_operations_json() -> None:
    f, box = features()
    got = await call(f, "resources/read", {"uri": "gumloop://runs/run_bad"})
    assert got["contents"][0]["uri"] == "gumloop://runs/run_bad"
    assert got["contents"][0]["mimeType"] == "application/json"
    assert '"run_id":"run_bad"' in got["contents"][0]["text"]
    assert box.calls == [(ALL_OPS["get_pl_run"], {"run_id": "run_bad"})]


async def test_stateless_revision_has_no_subscriptions() -> None:
    f, _ = features()
    for method in ("resources/subscribe", "resources/unsubscribe"):
        with pytest.raises(JsonRpcError) as err:
            await call(f, method, {}, Ex(modern=True))  # whatever the params: the method does not exist
        assert err.value.code == METHOD_NOT_FOUND and err.value.http_status == 404
        assert "no sessions" in err.value.message


async def test_cursor_and_uri_params_are_checked() -> None:
    f, _ = features()
    with pytest.raises(JsonRpcError, match="Invalid cursor"):
        await call(f, "prompts/list", {"cursor": "abc"})
    with pytest.raises(JsonRpcError, match="`uri` must be"):
        await call(f, "resources/read", {})


async def test_a_subscription_sends_an_update_on_change_and_ends_on_unsubscribe() -> None:
    f, box = features()
    sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    detach = f.subscriptions.attach("conn_1", sent.put)
    uri = "gumloop://sessions/s1"
    assert await call(f, "resources/subscribe", {"uri": uri}) == {}
    with pytest.raises(JsonRpcError, match="do not change"):
        await call(f, "resources/subscribe", {"uri": "gumloop://skills/k1"})
    box.session_state = "processing"
    note = await asyncio.wait_for(sent.get(), 5)
    assert note == {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
    assert f.subscriptions.watching("conn_1") == [uri]
    await call(f, "resources/unsubscribe", {"uri": uri})
    assert f.subscriptions.active == 0
    detach()
    await f.close()


async def test_subscriptions_per_session_are_bounded() -> None:
    subs = Subscriptions(interval_s=60, max_per_session=1)
    ended: list[str] = []

    async def fp() -> str:
        return "same"

    await subs.subscribe("c", "gumloop://runs/a", fp, until=float("inf"), on_end=lambda: ended.append("a"))
    from services.mcp_facade.resources.errors import InvalidParams

    with pytest.raises(InvalidParams, match="at most 1"):
        await subs.subscribe(
            "c", "gumloop://runs/b", fp, until=float("inf"), on_end=lambda: ended.append("b")
        )
    assert ended == ["b"]
    await subs.close()
    assert ended == ["b", "a"] and subs.active == 0
