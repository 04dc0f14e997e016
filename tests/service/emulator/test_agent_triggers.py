"""Agent triggers as the official SDK 0.5.9 calls them: the refusals of create and update, the webhook URL
kept out of every read but its own, runs filtered by state, stats, the active count, and delete."""

import httpx
import pytest

A = "/api/v1/agents"


def _code(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["param"]


S = {"type": "schedule", "prompt": "p"}
W = {"type": "webhook", "prompt": "p"}
EV = {"type": "integration", "prompt": "p"}
SLACK_CREDENTIAL = {"slack": {"secret_id": "s"}}
NINE = "0 9 * * *"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"type": "daily", "prompt": "p"}, "type"),
        ({"type": "webhook"}, "prompt"),
        (S, "cron_expression"),
        ({**S, "cron_expression": NINE, "run_at": "2030-01-01"}, "cron_expression"),
        ({**S, "cron_expression": "every day"}, "cron_expression"),
        ({**S, "run_at": "tomorrow"}, "run_at"),
        ({**S, "cron_expression": NINE, "timezone": "Mars/Base"}, "timezone"),
        ({**W, "cron_expression": NINE}, "cron_expression"),
        ({**W, "integration": {"operator_name": "gmail_new_email"}}, "integration"),
        (EV, "integration"),
        ({**EV, "integration": {"operator_name": "nope"}}, "integration.operator_name"),
        ({**EV, "integration": {"operator_name": "slack_new_message"}}, "integration.parameters"),
        ({**EV, "integration": {"operator_name": "gmail_new_email", "credentials_to_use": SLACK_CREDENTIAL}},
         "integration.credentials_to_use"),
        ({**W, "max_failures": 0}, "max_failures"),
        ({**W, "colour": "red"}, "colour"),
    ],
)  # fmt: skip
async def test_create_refuses_what_the_sdk_request_model_refuses(
    client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    """400 invalid_request naming the field; nothing is created."""
    response = await client.post(A + "/agent_research/triggers", json=body)
    assert _code(response) == (400, "invalid_request", param)
    assert (await client.get(A + "/agent_research/triggers")).json()["triggers"] == []


async def test_a_webhook_url_is_only_in_the_create_answer_and_its_own_route(
    client: httpx.AsyncClient,
) -> None:
    """The URL embeds the secret: lists and reads carry webhook_url null; other types have no URL (400)."""
    created = (
        await client.post(A + "/agent_research/triggers", json={"type": "webhook", "prompt": "p"})
    ).json()
    trigger = created["trigger"]
    assert trigger["webhook_url"].startswith("http://127.0.0.1:") and "secret=" in trigger["webhook_url"]
    assert trigger["enabled"] is True and trigger["status"] == "active"
    one = A + f"/agent_research/triggers/{trigger['id']}"
    assert (await client.get(one)).json()["trigger"]["webhook_url"] is None
    listed = (await client.get(A + "/agent_research/triggers")).json()["triggers"]
    assert [t["webhook_url"] for t in listed] == [None]
    assert "secret" not in str(listed) and "_credentials" not in str(listed)
    url = (await client.get(one + "/webhook-url")).json()
    assert url == {
        "agent_id": "agent_research",
        "trigger_id": trigger["id"],
        "webhook_url": trigger["webhook_url"],
    }
    seeded = (await client.get(A + "/agent_support/triggers")).json()["triggers"][0]
    refused = await client.get(A + f"/agent_support/triggers/{seeded['id']}/webhook-url")
    assert _code(refused)[:2] == (400, "invalid_request")


async def test_update_changes_only_what_is_sent_and_keeps_the_active_count(client: httpx.AsyncClient) -> None:
    """run_at replaces cron_expression; schedule fields on a webhook, and an active integration replaced
    without an explicit enabled, are refused; enabling and disabling moves active_trigger_count."""
    body = {
        "type": "schedule",
        "prompt": "Report",
        "cron_expression": "0 8 * * 1",
        "timezone": "Europe/Paris",
    }
    trigger = (await client.post(A + "/agent_research/triggers", json=body)).json()["trigger"]
    one = A + f"/agent_research/triggers/{trigger['id']}"
    moved = (await client.patch(one, json={"run_at": "2030-01-01T09:00:00Z"})).json()["trigger"]
    assert (moved["run_at"], moved["cron_expression"], moved["prompt"]) == (
        "2030-01-01T09:00:00Z",
        None,
        "Report",
    )
    agents = (await client.get(A, params={"has_triggers": "true"})).json()["agents"]
    assert {a["id"] for a in agents} == {"agent_research", "agent_support"}
    paused = (await client.patch(one, json={"enabled": False})).json()["trigger"]
    assert (paused["enabled"], paused["status"]) == (False, "disabled")
    agents = (await client.get(A, params={"has_triggers": "true"})).json()["agents"]
    assert {a["id"] for a in agents} == {"agent_support"}
    assert _code(await client.patch(one, json={})) == (400, "invalid_request", "prompt")
    hook = (await client.post(A + "/agent_research/triggers", json={"type": "webhook", "prompt": "p"})).json()
    hook_url = A + f"/agent_research/triggers/{hook['trigger']['id']}"
    assert _code(await client.patch(hook_url, json={"timezone": "UTC"})) == (
        400,
        "invalid_request",
        "timezone",
    )
    integration = {"operator_name": "github_new_issue", "parameters": {"repository": "a/b"}}
    event = {"type": "integration", "prompt": "p", "integration": integration, "enabled": True}
    created = (await client.post(A + "/agent_research/triggers", json=event)).json()["trigger"]
    event_url = A + f"/agent_research/triggers/{created['id']}"
    refused = await client.patch(event_url, json={"integration": integration})
    assert _code(refused) == (400, "invalid_request", "enabled")
    replaced = await client.patch(event_url, json={"integration": integration, "enabled": False})
    assert replaced.json()["trigger"]["enabled"] is False


async def test_seeded_runs_filter_by_state_and_add_up_in_the_stats(client: httpx.AsyncClient) -> None:
    """Runs newest first; state takes a comma-separated list; stats count runs and credits."""
    seeded = (await client.get(A + "/agent_support/triggers")).json()["triggers"][0]
    one = A + f"/agent_support/triggers/{seeded['id']}"
    runs = (await client.get(one + "/runs")).json()
    assert [r["state"] for r in runs["items"]] == ["failed", "completed", "completed"] and runs[
        "next_cursor"
    ] is None
    assert len((await client.get(one + "/runs", params={"state": "failed,completed"})).json()["items"]) == 3
    assert [
        r["state"] for r in (await client.get(one + "/runs", params={"state": "failed"})).json()["items"]
    ] == ["failed"]
    stats = (await client.get(one + "/stats")).json()
    assert stats == {
        "run_count": 3,
        "last_run_ts": runs["items"][0]["created_ts"],
        "run_credits": 4.5,
        "poll_credits": 0.0,
        "total_credits": 4.5,
    }


async def test_delete_removes_the_trigger_and_another_agents_trigger_is_not_found(
    client: httpx.AsyncClient,
) -> None:
    """DELETE answers {agent_id, trigger_id, deleted}; the trigger, its runs and stats are gone (404); a
    trigger is only reachable under its own agent."""
    seeded = (await client.get(A + "/agent_support/triggers")).json()["triggers"][0]
    assert (await client.get(A + f"/agent_research/triggers/{seeded['id']}")).status_code == 404
    one = A + f"/agent_support/triggers/{seeded['id']}"
    gone = (await client.delete(one)).json()
    assert gone == {"agent_id": "agent_support", "trigger_id": seeded["id"], "deleted": True}
    for suffix in ("", "/runs", "/stats"):
        assert (await client.get(one + suffix)).status_code == 404
    assert (await client.delete(one)).status_code == 404
    assert (await client.get(A + "/agent_support")).json()["agent"]["id"] == "agent_support"
    assert (await client.get(A, params={"has_triggers": "true"})).json()["agents"] == []
