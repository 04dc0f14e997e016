"""`gumloop-mcp up` supervision: a crashed child is restarted on its ports while the others serve, a
crash-looping one stops all, SIGTERM stops cleanly within the grace, re-runs reuse state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx2
import pytest

from gumloop_mcp.launcher import CRASH_LOOP_LIMIT, CRASH_LOOP_WINDOW_S

from .conftest import Stack, start_stack
from .test_system import session

# The façade's grace is 5 s, but nothing here is a tool call in flight: streams end at once and the
# unfinished body read is cut after HANDLER_CUT_S (twice); the gRPC services stop in well under 1 s.
# On an idle machine it takes about 2 s. The bound leaves room for a loaded CI machine (5.6 s was seen
# there) and is still far below `up`'s 15 s SIGKILL escalation (launcher.STOP_GRACE_S), which is what
# a façade that ignored its grace would need.
SHUTDOWN_BOUND_S: Final = 8.0


async def _call(url: str, tool: str) -> Any:
    async with session(url) as client:
        return await client.call_tool(tool, {})


def _children(pid: int) -> dict[str, int]:
    """The service processes under `up`, by marker in their command line."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) != pid:
            continue
        for marker in ("services.tokens", "services.gumloop_proxy", "services.mcp_facade"):
            if marker in cmdline:
                found[marker] = int(entry.name)
    return found


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own (these tests end it)."""
    with start_stack(tmp_path) as stack:
        yield stack


def _wait_for_new_child(stack: Stack, marker: str, old_pid: int, timeout_s: float = 60.0) -> int:
    """The pid of the `marker` service once `up` has started a new one (polled: it is another process)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid = _children(stack.process.pid).get(marker)
        if pid is not None and pid != old_pid:
            return pid
        if stack.process.poll() is not None:
            raise AssertionError(f"`up` exited ({stack.process.returncode}) instead of restarting {marker}")
        time.sleep(0.05)
    raise AssertionError(f"{marker} was not restarted within {timeout_s}s")


def _logs_once_they_hold(stack: Stack, text: str, timeout_s: float = 30.0) -> str:
    """`up`'s log once it holds `text` (polled: a call can succeed on the restarted service's port a
    moment before the service prints its serving line and `up` logs the restart), or as it is then."""
    deadline = time.monotonic() + timeout_s
    logs = stack.logs()
    while text not in logs and time.monotonic() < deadline:
        time.sleep(0.05)
        logs = stack.logs()
    return logs


async def _calls_through_an_outage(url: str, timeout_s: float) -> list[tuple[bool, str]]:
    """Call a tool over one session until it has failed at least once and then succeeded.

    Any HTTP-level failure (connection refused, 5xx) raises out of the SDK client and fails the test.
    """
    outcomes: list[tuple[bool, str]] = []
    deadline = time.monotonic() + timeout_s
    async with session(url) as client:
        while time.monotonic() < deadline:
            result = await client.call_tool("list_all_gumloop_teams", {})
            text = " ".join(getattr(block, "text", "") for block in result.content)
            outcomes.append((bool(result.is_error), text))
            if any(failed for failed, _ in outcomes) and not result.is_error:
                return outcomes
            await asyncio.sleep(0.05)
    raise AssertionError(f"no failure followed by a success within {timeout_s}s: {outcomes[-3:]}")


def test_a_killed_proxy_is_restarted_on_its_port_while_the_facade_answers_cleanly(own_stack: Stack) -> None:
    """SIGKILL to the proxy: tool calls become clean isError results, then work again; `up` stays up."""
    children = _children(own_stack.process.pid)
    assert set(children) == {"services.tokens", "services.gumloop_proxy", "services.mcp_facade"}
    url = own_stack.ready["mcp_url"]
    assert not asyncio.run(_call(url, "list_all_gumloop_teams")).is_error

    os.kill(children["services.gumloop_proxy"], signal.SIGKILL)
    outcomes = asyncio.run(_calls_through_an_outage(url, 60))

    failures = [text for failed, text in outcomes if failed]
    assert failures, outcomes
    assert all("proxy is unavailable" in text for text in failures), failures
    assert own_stack.process.poll() is None
    after = _children(own_stack.process.pid)
    assert after["services.gumloop_proxy"] != children["services.gumloop_proxy"]
    assert after["services.tokens"] == children["services.tokens"]
    assert after["services.mcp_facade"] == children["services.mcp_facade"]
    port = int(own_stack.ready["proxy_grpc"].rsplit(":", 1)[1])
    restarted = f"proxy restarted (restart 1), serving again on {{'grpc': {port},"
    logs = _logs_once_they_hold(own_stack, restarted)
    assert "proxy exited unexpectedly (killed by SIGKILL); restart 1 in 0.5s" in logs
    assert restarted in logs


def test_a_crash_looping_service_stops_the_stack_naming_it(own_stack: Stack) -> None:
    """A service killed CRASH_LOOP_LIMIT times in the window stops `up` (non-zero) with its name."""
    marker = "services.gumloop_proxy"
    pid = _children(own_stack.process.pid)[marker]
    for crash in range(1, CRASH_LOOP_LIMIT + 1):
        os.kill(pid, signal.SIGKILL)
        if crash < CRASH_LOOP_LIMIT:
            pid = _wait_for_new_child(own_stack, marker, pid)
    code = own_stack.process.wait(60)
    assert code != 0
    logs = own_stack.logs()
    assert f"proxy exited unexpectedly (killed by SIGKILL); restart {CRASH_LOOP_LIMIT - 1} in" in logs
    assert (
        f"gumloop-mcp: proxy crashed {CRASH_LOOP_LIMIT} times within {CRASH_LOOP_WINDOW_S:.0f}s "
        "(last: killed by SIGKILL); it is crash-looping, stopping everything"
    ) in logs
    assert _children(own_stack.process.pid) == {}


_OPENED: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_raw_sockets() -> Iterator[None]:
    """Raw sockets a test opened are closed even when it fails (a leaked one would surface as an
    unraisable ResourceWarning in whichever test runs next)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def _open(url: str, request: bytes) -> socket.socket:
    """A loopback socket to the façade with `request` (raw HTTP/1.1) sent (closed after the test)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    _OPENED.append(sock)
    sock.sendall(request)
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before {marker!r}: {data!r}")
        data += chunk
    return data


def _read_to_end(sock: socket.socket) -> None:
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(65536):
            pass


def test_sigterm_stops_everything_within_the_grace_despite_open_streams(own_stack: Stack) -> None:
    """Open SSE streams (streamable GET, legacy /sse) and a request whose body never finishes do not
    hold the façade past its grace: SIGTERM to `up` ends every service within a few seconds."""
    url = own_stack.ready["mcp_url"]
    path = urlsplit(url).path
    init = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
    )
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    answer = httpx2.post(
        url, content=init, headers={**headers, "Content-Type": "application/json"}, timeout=30
    )
    session_id = answer.headers["mcp-session-id"]
    streams = [
        _open(
            url,
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"Mcp-Session-Id: {session_id}\r\nMCP-Protocol-Version: 2025-06-18\r\n\r\n".encode(),
        ),
        _open(
            url, f"GET {path}/sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        ),
    ]
    _read_until(streams[0], b"\r\n\r\n")
    _read_until(streams[1], b"event: endpoint")
    half_sent = _open(
        url,
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: 10000\r\n\r\n{{".encode(),
    )
    time.sleep(0.2)  # let the façade start reading the body it will never get in full
    children = _children(own_stack.process.pid)
    assert len(children) == 3

    started = time.monotonic()
    own_stack.process.send_signal(signal.SIGTERM)
    assert own_stack.process.wait(30) == 0
    elapsed = time.monotonic() - started
    assert elapsed < SHUTDOWN_BOUND_S, f"`up` took {elapsed:.1f}s to stop"
    assert "did not stop within" not in own_stack.logs()
    for sock in [*streams, half_sent]:
        _read_to_end(sock)  # ended by the façade, not left hanging
        sock.close()
    for pid in children.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_rerun_on_the_same_data_dir_reuses_token_account_and_url(tmp_path: Path) -> None:
    """A second `up` on the same data dir prints the same API token, account and MCP URL token."""
    with start_stack(tmp_path) as first:
        before = first.ready
    with start_stack(tmp_path) as second:
        after = second.ready
        # The account was re-pointed at the new emulator port: tools still work.
        teams = asyncio.run(_call(after["mcp_url"], "list_all_gumloop_teams"))
        assert not teams.is_error, teams.content
    assert after["api_token"] == before["api_token"]
    assert after["account_id"] == before["account_id"]
    assert after["mcp_url"].rsplit("/", 1)[-1] == before["mcp_url"].rsplit("/", 1)[-1]


def test_up_with_the_redis_store_mints_and_serves(tmp_path: Path, clean_redis_url: str) -> None:
    """`up --store redis --redis-url URL` bootstraps into Redis and the demo URL lists tools."""
    with start_stack(tmp_path, "--store", "redis", "--redis-url", clean_redis_url) as running:
        assert running.ready["mcp_url"].startswith("http://127.0.0.1:")
        assert not (tmp_path / "data" / "tokens.sqlite3").exists()
        teams = asyncio.run(_call(running.ready["mcp_url"], "list_all_gumloop_teams"))
        assert not teams.is_error, teams.content


def test_up_on_a_redis_holding_another_systems_keys_fails_saying_why(
    tmp_path: Path, clean_redis_url: str
) -> None:
    """A second `up` with a fresh data directory (new encryption key) on the first one's Redis cannot
    read the stored account: the `error` event names the cause instead of only an exception type."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with start_stack(tmp_path / "first", "--store", "redis", "--redis-url", clean_redis_url):
        pass
    with (
        pytest.raises(RuntimeError, match="cannot be decrypted with the configured encryption key") as failed,
        start_stack(tmp_path / "second", "--store", "redis", "--redis-url", clean_redis_url),
    ):
        pass
    assert "UNAVAILABLE" in str(failed.value)
