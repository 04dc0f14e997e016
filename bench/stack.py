"""Starts the system under test as real processes: `gumloop-mcp up --json` (all ports free-picked), an
extra façade replica, and the FastMCP peer, and finds their processes for memory readings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 90.0


@dataclass
class Stack:
    """What `gumloop-mcp up --json` reported once everything served."""

    ready: dict[str, Any]
    process: asyncio.subprocess.Process
    data_dir: Path | None = None

    def caller_token(self, caller: str, server: str) -> str | None:
        """The gRPC caller token `up` made for `caller` -> `server` ("cli", "facade"; "proxy", "tokens")."""
        from gumloop_mcp.launcher import caller_token_path, read_secret_file

        return (
            None
            if self.data_dir is None
            else read_secret_file(caller_token_path(self.data_dir, caller, server))
        )

    @property
    def mcp_url(self) -> str:
        return str(self.ready["mcp_url"])

    @property
    def admin_url(self) -> str:
        return str(self.ready["admin_url"])

    @property
    def emulator_url(self) -> str:
        return str(self.ready["emulator_url"])

    def service_processes(self) -> dict[str, psutil.Process]:
        """The children of `up`, by service name (tokens, proxy, facade, emulator)."""
        found: dict[str, psutil.Process] = {}
        markers = {
            "tokens": "services.tokens",
            "proxy": "services.gumloop_proxy",
            "facade": "services.mcp_facade",
            "emulator": "gumloop_mcp.emulator",
        }
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                cmdline = " ".join(child.cmdline())
                for name, marker in markers.items():
                    if marker in cmdline and name not in found:
                        found[name] = child
        return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _read_json_lines_until(
    process: asyncio.subprocess.Process, predicate: Any, timeout_s: float
) -> dict[str, Any]:
    assert process.stdout is not None

    async def scan() -> dict[str, Any]:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError(f"process exited (code {process.returncode}) before it was ready")
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if predicate(event):
                    return dict(event)

    return await asyncio.wait_for(scan(), timeout_s)


async def _drain(stream: asyncio.StreamReader | None) -> None:
    while stream is not None and await stream.readline():
        pass


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def start_stack(
    data_dir: Path, extra_env: dict[str, str] | None = None, python: str | None = None
) -> AsyncIterator[Stack]:
    """`gumloop-mcp up --json` with every port 0 and the emulator, until the `ready` event.

    `python` runs `up` (and so the services, which `up` starts with its own interpreter) on another
    interpreter than the benchmark's, e.g. a virtual environment with the runtime dependencies only."""
    env = {**os.environ, **(extra_env or {})}
    for key in ("GUMLOOP_API_KEY", "GUMLOOP_ACCESS_TOKEN"):
        env.pop(key, None)
    process = await asyncio.create_subprocess_exec(
        python or sys.executable, "-m", "gumloop_mcp.cli", "up", "--json",
        "--mcp-port", "0", "--admin-port", "0", "--tokens-port", "0", "--proxy-port", "0",
        "--emulator-port", "0", "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    drain_err = asyncio.create_task(_drain(process.stderr))
    try:
        ready = await _read_json_lines_until(process, lambda e: e.get("event") == "ready", READY_TIMEOUT_S)
        drain_out = asyncio.create_task(_drain(process.stdout))
        yield Stack(ready=ready, process=process, data_dir=data_dir)
    finally:
        await _stop(process)
        drain_err.cancel()
        with contextlib.suppress(NameError):
            drain_out.cancel()


@contextlib.asynccontextmanager
async def start_facade_replica(
    stack: Stack, python: str | None = None
) -> AsyncIterator[tuple[str, psutil.Process]]:
    """A second façade process of the stack's system (on `python`, like the stack's): the same tokens,
    proxy and secrets `up` keeps in its data directory (never printed); yields its base URL and process."""
    from gumloop_mcp.launcher import facade_env, load_secrets

    assert stack.data_dir is not None, "a replica needs the data directory of the stack's secrets"
    replica_env = facade_env(
        load_secrets(stack.data_dir),
        tokens_target=str(stack.ready["tokens_grpc"]),
        proxy_target=str(stack.ready["proxy_grpc"]),
        data_dir=stack.data_dir / "replica",
    )
    env = {**os.environ, **replica_env, "GMCP_FACADE_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        python or sys.executable, "-m", "services.mcp_facade",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        event = await _read_json_lines_until(process, lambda e: e.get("event") == "serving", READY_TIMEOUT_S)
        yield f"http://127.0.0.1:{event['ports']['http']}", psutil.Process(process.pid)
    finally:
        await _stop(process)


@contextlib.asynccontextmanager
async def start_peer(emulator_url: str, openapi_path: Path) -> AsyncIterator[tuple[str, psutil.Process]]:
    """The FastMCP peer serving the emulator through its OpenAPI integration; yields its MCP URL."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.peer_fastmcp", "--emulator", emulator_url,
        "--openapi", str(openapi_path), "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if process.returncode is not None:
                raise RuntimeError("the FastMCP peer exited during start-up")
            await asyncio.sleep(0.1)
        yield url, psutil.Process(process.pid)
    finally:
        await _stop(process)
