"""The MCP Inspector (the pinned `@modelcontextprotocol/inspector`, its `--cli` mode) against the stack.

The Inspector is the client people reach for first when a server misbehaves: here it lists and calls
tools, lists and gets prompts, and lists resource templates over Streamable HTTP, and every answer is
the content the official Python client gets in the other e2e tests.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from .conftest import NodeTools, Stack


def _inspect(tools: NodeTools, url: str, home: Path, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUMLOOP_", "GMCP_"))}
    env.update(HOME=str(home), MCP_CATALOG_PATH=str(home / "catalog.json"))
    done = subprocess.run(
        [str(tools.node), str(tools.inspector), "--cli", url, "--transport", "http", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    return json.loads(done.stdout)


def test_the_inspector_lists_and_calls_tools_prompts_and_resources(
    stack: Stack, node_tools: NodeTools, tmp_path: Path
) -> None:
    url = stack.ready["mcp_url"]

    listed = _inspect(node_tools, url, tmp_path, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert {"list_all_gumloop_teams", "get_single_gumloop_run_by_id"} <= names

    called = _inspect(
        node_tools, url, tmp_path, "--method", "tools/call", "--tool-name", "list_all_gumloop_teams"
    )
    assert called.get("isError") is not True
    assert "items" in called["structuredContent"]

    prompts = _inspect(node_tools, url, tmp_path, "--method", "prompts/list")
    assert {p["name"] for p in prompts["prompts"]} == {
        "diagnose_failed_run",
        "deploy_skill_and_run_agent",
        "summarise_agent_sessions",
    }
    got = _inspect(
        node_tools,
        url,
        tmp_path,
        "--method",
        "prompts/get",
        "--prompt-name",
        "diagnose_failed_run",
        "--prompt-args",
        "run_id=run_from_inspector",
    )
    text = got["messages"][0]["content"]["text"]
    assert "run_from_inspector" in text and "`get_single_gumloop_run_by_id`" in text

    templates = _inspect(node_tools, url, tmp_path, "--method", "resources/templates/list")
    uris = {t["uriTemplate"] for t in templates["resourceTemplates"]}
    assert {"gumloop://artifacts/{artifact_id}", "gumloop://skills/{skill_id}"} <= uris
