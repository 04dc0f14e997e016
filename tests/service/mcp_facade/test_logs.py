"""Tokens never reach the logs: in-process (caplog) and in a real process's stderr."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.token_service import FakeTokens

from .conftest import Stack

PIPE = asyncio.subprocess.PIPE
REPO = Path(__file__).resolve().parents[3]
BOTH = {"Accept": "application/json, text/event-stream"}


async def _exercise(base: str, token: str, api_token: str | None = None) -> None:
    """Hit every path shape that carries the token: session, stateless, SSE, errors."""
    url = f"{base}/mcp/{token}"
    auth = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=init, headers={**BOTH, **auth}) as resp:
            assert resp.status == 200
            session_id = resp.headers["Mcp-Session-Id"]
        headers = {**BOTH, **auth, "Mcp-Session-Id": session_id}
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {}},
        }
        async with http.post(url, json=call, headers=headers) as resp:
            assert resp.status == 200
        async with http.post(url, data=b"{broken", headers=headers) as resp:
            assert resp.status == 400
        async with http.post(f"{url}x", json=init) as resp:
            assert resp.status == 404
        async with http.get(f"{url}/sse", headers=auth) as resp:
            endpoint = (await resp.content.readuntil(b"\n\n")).decode().split("data: ")[1].strip()
            ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
            async with http.post(f"{base}{endpoint}", json=ping, headers=auth) as posted:
                assert posted.status == 202
        async with http.delete(url, headers=headers) as resp:
            assert resp.status == 200


async def test_tokens_absent_from_in_process_logs(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """Access logs name the redacted path, status and JSON-RPC method, never the URL or API token."""
    secure = stack.tokens.add_server("mcp_logs", require_api_token=True)
    api_token = stack.tokens.add_api_token()
    with caplog.at_level(logging.DEBUG):
        await _exercise(stack.base, stack.token)
        await _exercise(stack.base, secure, api_token)
    text = "\n".join(
        f"{r.name} {r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in caplog.records
    )
    assert "POST /mcp/<redacted> 200" in text
    access = [r.__dict__ for r in caplog.records if r.name == "services.mcp_facade.access"]
    calls = [a for a in access if a.get("rpc_method") == "tools/call" and a.get("tool") == "echo"]
    assert calls and calls[0]["method"] == "POST" and calls[0]["status"] == 200
    assert calls[0]["path"] == "/mcp/<redacted>" and calls[0]["client"] == "127.0.0.1"
    assert isinstance(calls[0]["duration_ms"], float) and calls[0]["bytes"] > 0
    for secret in (stack.token, secure, api_token, stack.token[:20]):
        assert secret not in text


_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from gumloop_mcp.runtime import configure
    from services.mcp_facade.server import serve
    from services.mcp_facade.settings import FacadeSettings

    class Echo:
        async def list_tools(self, scope):
            return [{"name": "echo", "inputSchema": {"type": "object"}}]
        async def call_tool(self, scope, name, arguments, ctx):
            return {"content": [{"type": "text", "text": "ok"}]}

    def ready(ports):
        print(json.dumps({"event": "serving", "service": "facade", "ports": ports}), flush=True)

    settings = FacadeSettings()
    configure("DEBUG", json_format=True)
    asyncio.run(serve(settings, toolbox=Echo(), on_ready=ready))
    """
)


async def _run_child(args: list[str], tokens_port: int) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    env = {
        **os.environ,
        "GMCP_FACADE_PORT": "0",
        "GMCP_FACADE_ADMIN_PORT": "0",
        "GMCP_FACADE_TOKENS_TARGET": f"127.0.0.1:{tokens_port}",
        "GMCP_FACADE_PROXY_TARGET": f"127.0.0.1:{tokens_port}",
        "GMCP_FACADE_SHUTDOWN_GRACE_S": "1",
        "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    return proc, json.loads(line)


@pytest.fixture
async def fake_tokens() -> Any:
    tokens = FakeTokens()
    server, port = await tokens.serve()
    yield tokens, port
    await server.stop(None)


async def test_tokens_absent_from_process_stderr(fake_tokens: Any) -> None:
    """A real façade process (JSON logs on stderr) serves requests and never prints a token."""
    tokens, port = fake_tokens
    token = tokens.add_server("mcp_proc")
    proc, ready = await _run_child(["-c", _CHILD], port)
    try:
        assert ready["service"] == "facade"
        await _exercise(f"http://127.0.0.1:{ready['ports']['http']}", token)
    finally:
        proc.terminate()
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    logs = stderr.decode()
    assert "POST /mcp/" in logs  # the access log line, path redacted (twice: ours, then the filter)
    assert "session_secret is not set" in logs
    assert token not in logs
    assert token[:20] not in logs


async def test_module_entry_point_prints_the_serving_line(fake_tokens: Any) -> None:
    """`python -m services.mcp_facade` prints one JSON serving line with its ports and stops on SIGTERM."""
    _, port = fake_tokens
    proc, ready = await _run_child(["-m", "services.mcp_facade"], port)
    try:
        assert ready["event"] == "serving"
        assert set(ready["ports"]) == {"http", "admin", "metrics"}
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
