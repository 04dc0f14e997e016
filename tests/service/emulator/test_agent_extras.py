"""Agent routes only the official SDK 0.5.9 calls: delete, abilities, incognito, knowledge sources,
subagents, app rules, the evaluation options and on-demand evaluation runs."""

import httpx

from .conftest import FakeTime

A = "/api/v1/agents"


def _code(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["param"]


async def test_delete_removes_the_agent_and_what_hangs_off_it(client: httpx.AsyncClient) -> None:
    """{agent_id, deleted}; its triggers, versions and evaluation config go; delegators forget it; a second
    delete is 404; platform agents are refused with 403."""
    made = (await client.post(A, json={"name": "Doomed"})).json()["agent"]["id"]
    await client.post(A + f"/{made}/triggers", json={"type": "webhook", "prompt": "p"})
    await client.put(A + f"/agent_research/subagents/{made}")
    assert (await client.delete(A + f"/{made}")).json() == {"agent_id": made, "deleted": True}
    for suffix in ("", "/triggers", "/versions", "/evaluation-config"):
        assert (await client.get(A + f"/{made}{suffix}")).status_code == 404
    research = (await client.get(A + "/agent_research")).json()["agent"]
    assert research["metadata"]["subagent"]["allowed_gummie_ids"] == []
    assert (await client.delete(A + f"/{made}")).status_code == 404
    assert _code(await client.delete(A + "/gumball"))[:2] == (403, "forbidden")


async def test_abilities_merge_what_is_sent_and_refuse_a_stale_version(client: httpx.AsyncClient) -> None:
    """Only the abilities sent change (defaults otherwise); unknown abilities or a missing enabled are 400;
    a version other than the agent's is 409 agent_version_conflict."""
    url = A + "/agent_research/abilities"
    before = (await client.get(A + "/agent_research")).json()["agent"]
    assert before["version"] == 2 and before["abilities"]["web_search"] == {"enabled": True, "provider": None}
    body = (await client.patch(url, json={"web_search": {"enabled": True, "provider": "exa"}})).json()
    assert body["agent_id"] == "agent_research" and body["version"] == 2
    assert body["abilities"]["web_search"] == {"enabled": True, "provider": "exa"}
    assert body["abilities"]["tool_discovery"] == {"mode": "auto"}
    again = (await client.patch(url, json={"ask_question": {"enabled": False}, "version": 2})).json()
    assert (
        again["abilities"]["web_search"]["provider"] == "exa"
        and not again["abilities"]["ask_question"]["enabled"]
    )
    agent = (await client.get(A + "/agent_research")).json()["agent"]
    assert agent["abilities"]["ask_question"] == {"enabled": False}
    assert _code(await client.patch(url, json={"version": 1, "web_fetch": {"enabled": False}})) == (
        409,
        "agent_version_conflict",
        "version",
    )
    assert _code(await client.patch(url, json={"teleport": {"enabled": True}}))[2] == "teleport"
    assert _code(await client.patch(url, json={"browser": {"provider": "x"}}))[2] == "browser"
    assert _code(await client.patch(url, json={"tool_discovery": {"mode": "never"}}))[2] == "tool_discovery"
    assert _code(await client.patch(url, json={}))[:2] == (400, "invalid_request")


async def test_incognito_is_set_on_the_agent(client: httpx.AsyncClient) -> None:
    """{agent} with incognito.enforced as sent; a non-boolean is 400."""
    url = A + "/agent_support/incognito"
    assert (await client.patch(url, json={"enforced": True})).json()["agent"]["incognito"] == {
        "enforced": True
    }
    assert (await client.get(A + "/agent_support")).json()["agent"]["incognito"] == {"enforced": True}
    assert _code(await client.patch(url, json={"enforced": "yes"})) == (400, "invalid_request", "enforced")


async def test_knowledge_sources_upsert_with_a_scope_and_detach_idempotently(
    client: httpx.AsyncClient,
) -> None:
    """outcome attached, updated, unchanged; include_only needs inclusions; rules need a type and id."""
    url = A + "/agent_research/knowledge-sources/conn_drive"
    first = (await client.put(url, json={"config": None})).json()
    assert first == {
        "agent_id": "agent_research",
        "knowledge_source": {"connector_id": "conn_drive", "config": None},
        "outcome": "attached",
    }
    scope = {"mode": "include_only", "inclusions": [{"type": "document", "id": "doc_1"}]}
    assert (await client.put(url, json={"config": scope})).json()["outcome"] == "updated"
    everything = (
        await client.put(A + "/agent_research/knowledge-sources/conn_x", json={"config": {}})
    ).json()
    assert everything["knowledge_source"]["config"] is None  # a denylist excluding nothing: the whole source
    assert (await client.delete(A + "/agent_research/knowledge-sources/conn_x")).json()["detached"] is True
    assert (await client.put(url, json={"config": scope})).json()["outcome"] == "unchanged"
    listed = (await client.get(A + "/agent_research/knowledge-sources")).json()["knowledge_sources"]
    assert listed == [{"connector_id": "conn_drive", "config": {**scope, "exclusions": []}}]
    bad = await client.put(url, json={"config": {"mode": "include_only"}})
    assert _code(bad) == (400, "invalid_request", "config.inclusions")
    bad = await client.put(url, json={"config": {"exclusions": [{"type": "folder", "id": "x"}]}})
    assert _code(bad) == (400, "invalid_request", "config.exclusions")
    assert (await client.delete(url)).json() == {
        "agent_id": "agent_research",
        "connector_id": "conn_drive",
        "detached": True,
    }
    assert (await client.delete(url)).json()["detached"] is False


async def test_subagents_attach_idempotently_and_refuse_self_and_strangers(client: httpx.AsyncClient) -> None:
    """{agent_id, subagent_ids, changed}; itself is 400, an unknown agent 404."""
    url = A + "/agent_research/subagents/agent_support"
    assert (await client.put(url)).json() == {
        "agent_id": "agent_research",
        "subagent_ids": ["agent_support"],
        "changed": True,
    }
    assert (await client.put(url)).json()["changed"] is False
    assert _code(await client.put(A + "/agent_research/subagents/agent_research"))[2] == "subagent_id"
    assert (await client.put(A + "/agent_research/subagents/agent_nope")).status_code == 404
    assert (await client.delete(url)).json() == {
        "agent_id": "agent_research",
        "subagent_ids": [],
        "changed": True,
    }
    assert (await client.delete(url)).json()["changed"] is False


async def test_app_rules_and_evaluation_options(client: httpx.AsyncClient) -> None:
    """The seeded Slack rule of the support agent; the options the evaluation config takes."""
    rules = (await client.get(A + "/agent_support/app-rules")).json()
    assert rules["agent_id"] == "agent_support" and [r["id"] for r in rules["app_rules"]] == [
        "rule_slack_threads"
    ]
    assert (await client.get(A + "/agent_research/app-rules")).json()["app_rules"] == []
    options = (await client.get(A + "/evaluation-options")).json()
    assert options["limits"]["criteria"] == 30 and "debounced" in options["frequencies"]
    assert set(options["default_interaction_types"]) <= set(options["interaction_types"])


async def test_an_evaluation_run_queues_finished_sessions_and_grades_them_later(
    client: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """A dry run queues nothing; a run queues each finished session (1 credit), skips unfinished, unknown
    and already evaluated ones with a reason, and the result is retrievable once graded."""
    done = (await client.post(A + "/agent_research/sessions", json={"input": "hello"})).json()["session"][
        "id"
    ]
    fake_time.now += 5
    busy = (await client.post(A + "/agent_research/sessions", json={"input": "later"})).json()["session"][
        "id"
    ]
    url = A + "/agent_research/evaluations/run"
    dry = (await client.post(url, json={"session_ids": [done], "dry_run": True})).json()
    assert dry == {
        "dry_run": True,
        "credit_cost": 1,
        "results": [{"id": None, "session_id": done, "status": "dry_run"}],
        "skipped": [],
    }
    run = (await client.post(url, json={"session_ids": [done, busy, "sess_agent_support_seed", done]})).json()
    assert run["credit_cost"] == 1 and [r["status"] for r in run["results"]] == ["queued"]
    assert {s["session_id"]: s["reason"] for s in run["skipped"]} == {
        busy: "session_not_finished",
        "sess_agent_support_seed": "session_not_found",
    }
    eid = run["results"][0]["id"]
    again = (await client.post(url, json={"session_ids": [done]})).json()
    assert again["skipped"] == [{"session_id": done, "reason": "already_evaluated", "result_id": eid}]
    assert (await client.get(A + f"/agent_research/evaluations/{eid}")).status_code == 404
    fake_time.now += 5
    graded = (await client.get(A + f"/agent_research/evaluations/{eid}")).json()["evaluation"]
    assert (graded["interaction_id"], graded["status"], graded["grade"]) == (done, "completed", "pass")
    assert _code(await client.post(url, json={"session_ids": []})) == (400, "invalid_request", "session_ids")
