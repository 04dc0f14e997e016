"""The running system against the official MCP conformance suite and the Claude Desktop bridge.

- `@modelcontextprotocol/conformance`, both pinned lines (0.2.x, the 2026-07-28 release line, and
  0.1.x under the npm alias `conformance-0.1`; scripts/node-tools), runs every server scenario
  against the demo server's `/mcp/{token}` URL; its per-scenario `checks.json` files are read and
  each scenario is held to its classification below: passing, passing except for checks that
  need the suite's own diagnostic tools, or not applicable (with the reason).
- The scenarios built on the suite's fixture tools (`greet`, `slow_compute`, `confirm_delete`,
  `test_missing_capability`, ...: FIXTURE_PASSING) run against the same façade serving those tools
  (conformance_fixtures.py): the 2026-07-28 tasks extension, input-required results inside tasks and
  the capability checks must pass every check there.
- `mcp-remote` is started the way the `claude_desktop_config.json` snippet starts it and spoken to
  over stdin/stdout as Claude Desktop does (newline-delimited JSON-RPC).

Both talk only to 127.0.0.1; the tools come from scripts/ensure-node-tools (skipped without them).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from gumloop_mcp.claude_config import claude_desktop_config

from .conformance_fixtures import fixture_server
from .conftest import NodeTools, Stack

# Scenarios whose every check passes (those a suite line does not have are not expected of it).
PASSING = {
    "server-initialize",
    "server-session-lifecycle",
    "logging-set-level",
    "ping",
    "tools-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
    "http-header-validation",
    "prompts-list",
    "resources-list",
    "sep-2164-resource-not-found",
    "caching",
}
# Scenarios that pass these checks; their other checks need the suite's diagnostic tools
# (test_missing_capability, test_streaming_elicitation, test_logging_tool: server-stateless passes
# them all against the fixture tools, FIXTURE_PASSING).
PARTIAL = {
    "server-stateless": {
        "sep-2575-request-meta-invalid-missing-meta",
        "sep-2575-request-meta-invalid-missing-protocol-version",
        "sep-2575-request-meta-invalid-missing-client-capabilities",
        "sep-2575-http-server-meta-invalid-400",
        "sep-2575-request-meta-client-info-optional",
        "sep-2575-server-implements-discover",
        "sep-2575-server-identifies-in-result-meta",
        "sep-2575-server-declares-prompts-in-discover",
        "sep-2575-discover-capabilities-match-handlers",
        "sep-2575-server-unsupported-version-error",
        "sep-2575-http-server-unsupported-version-400",
        "sep-2575-http-server-header-mismatch-400",
        "sep-2575-http-server-method-not-found-404-initialize",
        "sep-2575-http-server-method-not-found-404-ping",
        "sep-2575-http-server-method-not-found-404-logging-setlevel",
        "sep-2575-http-server-method-not-found-404-resources-subscribe",
        "sep-2575-http-server-method-not-found-404-resources-unsubscribe",
        "sep-2575-http-server-method-not-found-404",
        "sep-2575-http-server-error-jsonrpc-id",
    },
}
_REFERENCE_TOOL = "calls one of the suite's reference tools (test_*), which a Gumloop server does not have"
_SUITE_FIXTURES = (
    "reads the suite's own prompts or resources (test_*, test://...), which a Gumloop server does not have"
)
# The input-required-result-* scenarios the fixture tools serve (non-tool-request needs a prompt).
_INPUT_REQUIRED = (
    "basic-elicitation",
    "basic-sampling",
    "basic-list-roots",
    "request-state",
    "multiple-input-requests",
    "multi-round",
    "missing-input-response",
    "result-type",
    "unsupported-methods",
    "tampered-state",
    "capability-check",
    "ignore-extra-params",
    "validate-input",
)
NOT_APPLICABLE = {
    **dict.fromkeys(
        (
            "tools-call-simple-text",
            "tools-call-image",
            "tools-call-audio",
            "tools-call-embedded-resource",
            "tools-call-mixed-content",
            "tools-call-with-logging",
            "tools-call-error",
            "tools-call-with-progress",
            "tools-call-sampling",
            "tools-call-elicitation",
            "json-schema-2020-12",
            "elicitation-sep1034-defaults",
            "elicitation-sep1330-enums",
        ),
        _REFERENCE_TOOL,
    ),
    "server-sse-polling": "needs the reference test_reconnection tool (it only records INFO here)",
    **dict.fromkeys(
        (
            "completion-complete",
            "resources-read-text",
            "resources-read-binary",
            "resources-templates-read",
            "resources-subscribe",
            "resources-unsubscribe",
            "prompts-get-simple",
            "prompts-get-with-args",
            "prompts-get-embedded-resource",
            "prompts-get-with-image",
        ),
        _SUITE_FIXTURES,
    ),
    "http-custom-header-server-validation": "no tool marks a parameter with x-mcp-header",
    **{
        f"sep-2640-skills-{part}": "the skills extension is not declared (the suite skips its checks)"
        for part in ("directory", "enumeration", "manifest")
    },
    **{
        f"tasks-{part}": "needs the suite's fixture tools (greet, slow_compute, ...): see FIXTURE_PASSING"
        for part in (
            "lifecycle",
            "capability-negotiation",
            "wire-fields",
            "request-state-removal",
            "mrtr-input",
            "request-headers",
            "dispatch-and-envelope",
            "required-task-error",
            "mrtr-composition",
        )
    },
    "tasks-status-notifications": "the suite skips it (notifications/tasks needs subscriptions/listen)",
    **{
        f"input-required-result-{part}": (
            "needs the suite's test_input_required_result_* tools: see FIXTURE_PASSING (the Gumloop call "
            "that asks for input, a wait on a session paused for approval: test_approvals_modern.py)"
        )
        for part in _INPUT_REQUIRED
    },
    "input-required-result-non-tool-request": (
        "needs a prompt that asks for input (test_input_required_result_prompt); no Gumloop prompt does, "
        "so prompts/get never answers input_required"
    ),
}
# Run against conformance_fixtures.py's façade (0.2 line): every check must pass.
FIXTURE_PASSING = (
    "server-stateless",
    "tasks-lifecycle",
    "tasks-capability-negotiation",
    "tasks-wire-fields",
    "tasks-dispatch-and-envelope",
    "tasks-required-task-error",
    "tasks-request-headers",
    "tasks-mrtr-input",
    "tasks-mrtr-composition",
    "tasks-request-state-removal",
    *(f"input-required-result-{part}" for part in _INPUT_REQUIRED),
)
_OK = {"SUCCESS", "INFO", "SKIPPED"}
_NOT_TESTABLE = re.compile(r"^Not testable|Method not found: (prompts|resources)/")
_UNKNOWN_REFERENCE_TOOL = re.compile(r"Unknown tool: test_|Tool '\w+' not found")
_UNKNOWN_SUITE_FIXTURE = re.compile(r"Unknown prompt: test_|Resource not found: test://")
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
CONFORMANCE_TIMEOUT_S = 120


def _run_suite(node: Path, cli: Path, url: str, out: Path, scenarios: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the suite (every server scenario, or `scenarios`) against `url`: scenario -> checks."""
    runs: list[list[str]] = [["--suite", "all"]] if not scenarios else [["--scenario", s] for s in scenarios]
    for selection in runs:
        command = [str(node), str(cli), "server", "--url", url, *selection, "--output-dir", str(out)]
        run = subprocess.run(
            command, capture_output=True, text=True, timeout=CONFORMANCE_TIMEOUT_S, check=False
        )
    results: dict[str, list[dict[str, Any]]] = {}
    for checks in out.glob("*/checks.json"):
        match = _RESULT_DIR.match(checks.parent.name)
        assert match, checks.parent.name
        results[match["scenario"]] = json.loads(checks.read_text())
    assert results, f"the suite wrote no results (exit {run.returncode}): {run.stderr[-2000:]}"
    return results


@pytest.fixture(scope="module", params=["0.2", "0.1"])
def suite_line(request: pytest.FixtureRequest) -> str:
    """The pinned suite line: 0.2 (2026-07-28 release line) or 0.1 (npm alias conformance-0.1)."""
    return str(request.param)


@pytest.fixture(scope="module")
def conformance(
    node_tools: NodeTools, stack: Stack, suite_line: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Every server scenario of one pinned suite line, run once against the demo server."""
    cli = node_tools.conformance if suite_line == "0.2" else node_tools.conformance_01
    out = tmp_path_factory.mktemp(f"conformance-{suite_line}")
    return _run_suite(node_tools.node, cli, stack.ready["mcp_url"], out)


def test_fixture_scenarios_pass_every_check_against_the_facade(node_tools: NodeTools, tmp_path: Path) -> None:
    """Tasks extension, input-required results in tasks, -32021 capability checks, no requests or
    unrequested logs on a response stream: every check, through the façade serving the fixture tools."""
    with fixture_server() as url:
        results = _run_suite(node_tools.node, node_tools.conformance, url, tmp_path, FIXTURE_PASSING)
    assert set(results) == set(FIXTURE_PASSING)
    for scenario, checks in sorted(results.items()):
        assert _failures(checks) == [], scenario
        assert any(c["status"] == "SUCCESS" for c in checks), scenario


def _failures(checks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(c["id"], c["status"], c.get("errorMessage") or "") for c in checks if c["status"] not in _OK]


# The scenarios of the 0.1 line (2025-11-25 and earlier; no stateless revision, no extensions).
_ONLY_IN_02 = {
    "server-stateless",
    "caching",
    "http-header-validation",
    "server-session-lifecycle",
    "sep-2164-resource-not-found",
}


def test_every_scenario_of_the_pinned_suite_is_classified(
    conformance: dict[str, Any], suite_line: str
) -> None:
    """The suite ran every scenario we classified, and no scenario we have not (a new pin must be triaged)."""
    classified = PASSING | set(PARTIAL) | set(NOT_APPLICABLE)
    if suite_line == "0.2":
        assert set(conformance) == classified
    else:
        assert set(conformance) <= classified
        assert set(conformance) >= PASSING - _ONLY_IN_02


def test_passing_scenarios_pass_every_check(conformance: dict[str, Any]) -> None:
    """Initialize, sessions, ping, logging, tools/list, multiple streams, DNS rebinding, header validation."""
    for scenario in sorted(PASSING & set(conformance)):
        checks = conformance[scenario]
        assert _failures(checks) == [], scenario
        assert any(c["status"] == "SUCCESS" for c in checks), scenario


def test_stateless_and_caching_checks_pass_and_the_rest_is_untestable(conformance: dict[str, Any]) -> None:
    """2026-07-28: _meta validation, discover, version and header errors, removed methods, caching hints."""
    for scenario, required in PARTIAL.items():
        if scenario not in conformance:
            continue  # the 0.1 line has no 2026-07-28 scenarios
        checks = conformance[scenario]
        statuses = {(c["id"], c["status"]) for c in checks if c["id"] in required}
        assert {check for check, _ in statuses} == required, scenario
        assert {status for _, status in statuses} == {"SUCCESS"}, (scenario, sorted(statuses))
        others = [f for f in _failures(checks) if f[0] not in required]
        assert all(_NOT_TESTABLE.search(message) for _, _, message in others), (scenario, others)


def test_every_answer_matches_the_wire_schema(conformance: dict[str, Any], suite_line: str) -> None:
    """Each scenario's wire-schema check (every message we sent, against the spec's schema) succeeds."""
    if suite_line == "0.1":
        pytest.skip("the 0.1 line has no wire-schema check")
    wire = [
        (s, c["status"])
        for s, checks in conformance.items()
        for c in checks
        if c["id"] == "wire-schema-valid"
    ]
    assert len(wire) > 20
    assert {status for _, status in wire} == {"SUCCESS"}, [w for w in wire if w[1] != "SUCCESS"]


def test_suite_fixture_scenarios_fail_only_for_the_missing_prompt_or_resource(
    conformance: dict[str, Any],
) -> None:
    """Where the suite reads its own test_* prompts or test:// resources, the only failure is our refusal."""
    for scenario, reason in NOT_APPLICABLE.items():
        if reason != _SUITE_FIXTURES or scenario not in conformance:
            continue
        failures = _failures(conformance[scenario])
        assert failures, scenario
        assert all(_UNKNOWN_SUITE_FIXTURE.search(message) for _, _, message in failures), (scenario, failures)


def test_reference_tool_scenarios_fail_only_for_the_missing_tool(conformance: dict[str, Any]) -> None:
    """Where the suite calls its own test_* tools, the only failure is our clean unknown-tool refusal."""
    for scenario, reason in NOT_APPLICABLE.items():
        if reason != _REFERENCE_TOOL or scenario not in conformance:
            continue
        failures = _failures(conformance[scenario])
        assert failures, scenario
        assert all(_UNKNOWN_REFERENCE_TOOL.search(message) for _, _, message in failures), (
            scenario,
            failures,
        )


# -- mcp-remote, as Claude Desktop runs it ----------------------------------------------------------------

REPLY_TIMEOUT_S = 15.0


class Bridge:
    """One `mcp-remote` process spoken to over newline-delimited JSON-RPC on stdin/stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._next_id = 0

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its response (notifications in between are skipped)."""
        self._next_id += 1
        msg_id = self._next_id
        await self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}})
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), REPLY_TIMEOUT_S)
            assert line, f"mcp-remote closed stdout while {method} was pending"
            message: dict[str, Any] = json.loads(line)
            if message.get("id") == msg_id:
                return message


@asynccontextmanager
async def bridge(
    node_tools: NodeTools, entry: dict[str, Any], home: Path, *extra: str
) -> AsyncIterator[Bridge]:
    """Start the snippet's command: `npx -y mcp-remote ARGS` becomes the pinned node + mcp-remote."""
    assert entry["command"] == "npx"
    # The snippet may pin the version (mcp-remote@X); it must then be the one tested here.
    assert entry["args"][:2] in (
        ["-y", "mcp-remote"],
        ["-y", f"mcp-remote@{node_tools.versions['mcp-remote']}"],
    ), entry["args"]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ")}
    # Its OAuth store and lock files go to a test directory, never to ~/.mcp-auth.
    env |= {"HOME": str(home), "MCP_REMOTE_CONFIG_DIR": str(home / "mcp-auth"), **entry.get("env", {})}
    with (home / "mcp-remote.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(node_tools.node),
            str(node_tools.mcp_remote),
            *entry["args"][2:],
            *extra,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env=env,
            # One stdio message per line: the full tools/list of the whole catalog is far above
            # asyncio's default 64 KiB line limit.
            limit=16 * 1024 * 1024,
        )
        try:
            yield Bridge(process)
        finally:
            if process.stdin is not None:
                process.stdin.close()  # what Claude Desktop does on quit: mcp-remote shuts down
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _claude_desktop_session(session: Bridge) -> dict[str, Any]:
    """initialize, notifications/initialized, tools/list and a read tool, as Claude Desktop sends them."""
    init = await session.request(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "claude-ai", "version": "0.1.0"},
        },
    )
    assert init["result"]["serverInfo"]["name"] == "gumloop-mcp"
    assert init["result"]["protocolVersion"] == "2025-06-18"
    assert "tools" in init["result"]["capabilities"]
    await session.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    listed = await session.request("tools/list")
    tools = {tool["name"]: tool for tool in listed["result"]["tools"]}
    teams_tool = tools["list_all_gumloop_teams"]
    assert teams_tool["annotations"]["readOnlyHint"] is True
    assert teams_tool["inputSchema"]["type"] == "object"
    called = await session.request("tools/call", {"name": "list_all_gumloop_teams", "arguments": {}})
    result: dict[str, Any] = called["result"]
    assert not result.get("isError"), result
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return result


@pytest.mark.parametrize(
    ("extra", "token_in_url"),
    [
        ((), False),
        ((), True),
        (("--protocol", "auto"), False),
        # HTTP+SSE names the token in its endpoint URLs: the URL form only.
        (("--transport", "sse-only"), True),
    ],
    ids=["desktop-default", "desktop-url-form", "modern-bridge", "http+sse"],
)
async def test_mcp_remote_bridges_claude_desktop_to_the_server(
    node_tools: NodeTools, stack: Stack, tmp_path: Path, extra: tuple[str, ...], token_in_url: bool
) -> None:
    """Through mcp-remote (default, 2026-07-28 bridging, HTTP+SSE) Claude Desktop lists and calls tools.

    With the snippet's default header form, mcp-remote's log (Claude Desktop's log file) never holds
    the token: the URL it prints is the tokenless /mcp.
    """
    url = stack.ready["mcp_url"]
    entry = claude_desktop_config(url, token_in_url=token_in_url)["mcpServers"]["gumloop"]
    async with bridge(node_tools, entry, tmp_path, *extra) as session:
        result = await _claude_desktop_session(session)
    teams = {team["name"] for team in result["structuredContent"]["items"]}
    assert {"Emulator team", "Ops team"} <= teams
    log = (tmp_path / "mcp-remote.log").read_text(errors="replace")
    assert "Authentication required" not in log and "authorize" not in log.lower()
    token = url.rsplit("/", 1)[1]
    if token_in_url:
        assert token in log  # what the header form is for: mcp-remote prints the URL it connects to
    else:
        assert token not in log
        assert f"Connecting to remote server: {url.rsplit('/', 1)[0]}" in log
        assert "Using custom headers: Authorization" in log
    if extra == ("--protocol", "auto"):
        assert "speaks MCP 2026-07-28" in log


async def test_mcp_remote_with_the_snippets_api_token_header_passes_the_second_factor(
    node_tools: NodeTools, stack: Stack, tmp_path: Path
) -> None:
    """A require_api_token_auth server works through the snippet's --header and env (no OAuth), in the
    header form (URL token in Authorization, API token in X-Gumloop-MCP-API-Token) and the URL form."""
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        path = f"/integrated-account/{stack.ready['account_id']}/mcp"
        resp = await http.post(
            stack.admin + path,
            json={"name": "bridge 2fa", "require_api_token_auth": True},
            headers=stack.auth,
        )
    assert resp.status_code == 201, resp.text
    url = resp.json()["url"]
    for token_in_url in (False, True):
        home = tmp_path / f"in-url-{token_in_url}"
        home.mkdir()
        config = claude_desktop_config(url, api_token=stack.ready["api_token"], token_in_url=token_in_url)
        async with bridge(node_tools, config["mcpServers"]["gumloop"], home) as session:
            result = await _claude_desktop_session(session)
        assert result["structuredContent"]["items"]
        log = (home / "mcp-remote.log").read_text(errors="replace")
        assert stack.ready["api_token"] not in log
        assert (url.rsplit("/", 1)[1] in log) is token_in_url
