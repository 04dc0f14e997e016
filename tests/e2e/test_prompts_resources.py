"""Prompts, completion and resources through the official `mcp` client against the running stack.

A 2025-11-25 session of ClientSession over Streamable HTTP: list and get the prompts (their text names
the server's own tools), complete an argument from the account, list, template-list and read the
gumloop:// resources, and subscribe to an agent session that then changes: the update arrives as
notifications/resources/updated on the session's GET stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from .conftest import Stack, start_stack

UPDATE_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack with subscribed resources read every 0.2 s."""
    env = {"GMCP_FACADE_RESOURCE_POLL_INTERVAL_S": "0.2"}
    with start_stack(tmp_path_factory.mktemp("e2e-resources"), env_extra=env) as running:
        yield running


@asynccontextmanager
async def client(url: str, updates: asyncio.Queue[str] | None = None) -> AsyncIterator[ClientSession]:
    async def on_message(message: Any) -> None:
        if updates is not None and isinstance(message, types.ResourceUpdatedNotification):
            await updates.put(str(message.params.uri))

    async with (
        streamable_http_client(url) as streams,
        ClientSession(streams[0], streams[1], message_handler=on_message) as session,
    ):
        await session.initialize()
        yield session


async def test_prompts_list_get_and_complete(fast_stack: Stack) -> None:
    async with client(fast_stack.ready["mcp_url"]) as session:
        caps = (await session.initialize()).capabilities
        assert caps.prompts is not None and caps.completions is not None
        names = {p.name for p in (await session.list_prompts()).prompts}
        assert names == {"diagnose_failed_run", "deploy_skill_and_run_agent", "summarise_agent_sessions"}
        tools = {t.name for t in (await session.list_tools()).tools}

        got = await session.get_prompt("diagnose_failed_run", {"run_id": "run_lead_failed_yesterday"})
        text = got.messages[0].content.text  # type: ignore[union-attr]
        assert "run_lead_failed_yesterday" in text
        assert "`get_single_gumloop_run_by_id`" in text and "get_single_gumloop_run_by_id" in tools
        assert "`list_all_gumloop_automation_runs`" in text

        deploy = await session.get_prompt(
            "deploy_skill_and_run_agent",
            {"agent_id": "agent_research", "skill_name": "csv-cleaner", "task": "Clean data.csv"},
        )
        deploy_text = deploy.messages[0].content.text  # type: ignore[union-attr]
        for tool in (
            "list_all_gumloop_skills",
            "create_a_gumloop_session",
            "get_single_gumloop_session_by_id",
        ):
            assert f"`{tool}`" in deploy_text and tool in tools

        with pytest.raises(MCPError, match="Missing required argument: run_id"):
            await session.get_prompt("diagnose_failed_run", {})
        with pytest.raises(MCPError, match="Unknown prompt: nope"):
            await session.get_prompt("nope", {})

        runs = await session.complete(
            types.PromptReference(type="ref/prompt", name="diagnose_failed_run"),
            {"name": "run_id", "value": "run_"},
        )
        assert runs.completion.values[0] in ("run_lead_failed_yesterday", "run_invoice_failed")
        assert {"run_lead_failed_yesterday", "run_lead_ok_1"} <= set(runs.completion.values)
        agents = await session.complete(
            types.PromptReference(type="ref/prompt", name="summarise_agent_sessions"),
            {"name": "agent_id", "value": "agent_r"},
        )
        assert agents.completion.values == ["agent_research"]
        skills = await session.complete(
            types.PromptReference(type="ref/prompt", name="deploy_skill_and_run_agent"),
            {"name": "skill_name", "value": "csv"},
        )
        assert skills.completion.values == ["csv-cleaner"]


async def test_resources_list_templates_and_read(fast_stack: Stack) -> None:
    async with client(fast_stack.ready["mcp_url"]) as session:
        caps = (await session.initialize()).capabilities
        assert caps.resources is not None and caps.resources.subscribe is True
        templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
        assert templates == {
            "gumloop://artifacts/{artifact_id}",
            "gumloop://skills/{skill_id}",
            "gumloop://sessions/{session_id}",
            "gumloop://runs/{run_id}",
        }
        listed = {str(r.uri): r for r in (await session.list_resources()).resources}
        assert "gumloop://skills/skill_csv_cleaner" in listed
        assert listed["gumloop://skills/skill_csv_cleaner"].name == "csv-cleaner"
        artifacts = [r for uri, r in listed.items() if uri.startswith("gumloop://artifacts/")]
        assert artifacts, listed

        text_artifact = next(r for r in artifacts if (r.mime_type or "").startswith("text/"))
        read = await session.read_resource(str(text_artifact.uri))
        assert read.contents[0].mime_type == "text/markdown"
        assert "weekly summary" in read.contents[0].text.lower()  # type: ignore[union-attr]

        run = await session.read_resource("gumloop://runs/run_lead_failed_yesterday")
        body = json.loads(run.contents[0].text)  # type: ignore[union-attr]
        assert body["state"] == "FAILED" and any("Clearbit" in line for line in body["log"])
        skill = (await session.read_resource("gumloop://skills/skill_csv_cleaner")).contents[0]
        assert skill.mime_type == "text/markdown"
        text = skill.text  # type: ignore[union-attr]
        assert text.startswith("# Archive: 1 file, ") and "| SKILL.md |" in text
        assert "## SKILL.md\n\n---\nname: csv-cleaner" in text and "Steps..." in text

        with pytest.raises(MCPError) as missing:
            await session.read_resource("gumloop://runs/run_does_not_exist")
        assert missing.value.error.code == -32002
        with pytest.raises(MCPError) as foreign:
            await session.read_resource("https://example.com/x")
        assert foreign.value.error.code == -32002


# The SDK marks resources/subscribe deprecated (2026-07-28 replaced it); 2025-11-25 sessions still have it.
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_a_subscribed_session_sends_an_update_when_it_changes(fast_stack: Stack) -> None:
    updates: asyncio.Queue[str] = asyncio.Queue()
    async with client(fast_stack.ready["mcp_url"], updates) as session:
        uri = "gumloop://sessions/sess_agent_research_seed"
        await session.subscribe_resource(uri)
        sent = await session.call_tool(
            "gumloop_send_session_message",
            {"session_id": "sess_agent_research_seed", "input": "And the week before?"},
        )
        assert not sent.is_error, sent.content
        assert await asyncio.wait_for(updates.get(), UPDATE_TIMEOUT_S) == uri
        after = json.loads((await session.read_resource(uri)).contents[0].text)  # type: ignore[union-attr]
        assert any("week before" in str(m.get("content")) for m in after["session"]["messages"])
        await session.unsubscribe_resource(uri)
        with pytest.raises(MCPError, match="do not change"):
            await session.subscribe_resource("gumloop://skills/skill_csv_cleaner")
