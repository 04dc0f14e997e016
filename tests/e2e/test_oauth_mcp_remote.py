"""End to end: `mcp-remote` (what Claude Desktop runs) completes its OAuth flow against an OAuth server.

mcp-remote discovers the authorization server from the 401, registers (DCR) with its loopback
callback, and opens the person's browser at the authorization URL. Here BROWSER is a small script
that hands that URL to the test (mcp-remote's opener runs xdg-open, which uses BROWSER when there is
no desktop); the test opens it in headless Debian chromium (Playwright, scripts/ensure-chromium),
enters the connect code an operator minted and allows. chromium follows the redirect to mcp-remote's
callback on 127.0.0.1, mcp-remote exchanges the code, and the session lists and calls tools over
stdio as Claude Desktop does.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from .conftest import NodeTools, Stack
from .test_conformance import Bridge
from .test_oauth import connect_code, grants, mint_server

playwright_async = pytest.importorskip("playwright.async_api")

CHROMIUM = Path("/usr/bin/chromium")
AUTH_TIMEOUT_S = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _reply(bridge: Bridge, msg_id: int, timeout_s: float) -> dict[str, Any]:
    assert bridge.process.stdout is not None
    while True:
        line = await asyncio.wait_for(bridge.process.stdout.readline(), timeout_s)
        assert line, "mcp-remote closed stdout"
        message: dict[str, Any] = json.loads(line)
        if message.get("id") == msg_id:
            return message


async def _browser_url(path: Path, process: asyncio.subprocess.Process, log: Path) -> str:
    """The URL mcp-remote asked the browser to open (written by the BROWSER script)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + AUTH_TIMEOUT_S
    while not path.exists() or not path.read_text().strip():
        if process.returncode is not None or loop.time() > deadline:
            raise AssertionError(f"mcp-remote opened no browser; its log:\n{log.read_text(errors='replace')}")
        await asyncio.sleep(0.1)
    return path.read_text().splitlines()[0]


async def test_mcp_remote_signs_in_through_a_headless_browser_and_lists_tools(
    node_tools: NodeTools, stack: Stack, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run scripts/ensure-chromium"
        if os.environ.get("GMCP_REQUIRE_INTEGRATION") == "1":
            pytest.fail(f"GMCP_REQUIRE_INTEGRATION=1 and {reason}", pytrace=False)
        pytest.skip(reason)
    server = await mint_server(stack, "mcp-remote oauth", config={"methods": ["read"]})
    code = await connect_code(stack, server["id"], "desktop@example.com")

    opened = tmp_path / "browser-url.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "mcp-remote.log"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ")}
    env |= {
        "HOME": str(tmp_path),
        "MCP_REMOTE_CONFIG_DIR": str(tmp_path / "mcp-auth"),
        "BROWSER": str(browser),
    }
    port = _free_port()
    with log.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            str(node_tools.node),
            str(node_tools.mcp_remote),
            server["url"],
            str(port),
            "--host",
            "127.0.0.1",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            env=env,
            limit=16 * 1024 * 1024,
        )
    bridge = Bridge(process)
    bridge._next_id = 1  # the initialize below is sent by hand (its reply waits for the sign-in)
    try:
        await bridge.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "claude-ai", "version": "0.1.0"},
                },
            }
        )
        url = await _browser_url(opened, process, log)
        assert url.startswith(stack.ready["mcp_url"].split("/mcp", 1)[0] + "/oauth/authorize?")

        async with playwright_async.async_playwright() as p:
            chromium = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = await chromium.new_page()
                page.set_default_timeout(30_000)
                await page.goto(url)
                assert "mcp-remote oauth" in await page.title()
                await page.fill("#connect_code", code)
                await page.click("button[value=allow]")
                await page.wait_for_url(f"http://127.0.0.1:{port}/**")
                assert "code=" in page.url and "error=" not in page.url
            finally:
                await chromium.close()

        init = await _reply(bridge, 1, AUTH_TIMEOUT_S)
        assert init["result"]["serverInfo"]["name"] == "gumloop-mcp", init
        await bridge.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = await bridge.request("tools/list")
        names = {tool["name"] for tool in listed["result"]["tools"]}
        assert "list_all_gumloop_teams" in names
        called = await bridge.request("tools/call", {"name": "list_all_gumloop_teams", "arguments": {}})
        assert not called["result"].get("isError"), called
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
    (grant,) = await grants(stack, server["id"])
    assert (grant["subject"], grant["sign_in"]) == ("desktop@example.com", "connect_code")
    assert grant["client_name"], grant  # mcp-remote registered itself by name (DCR)
