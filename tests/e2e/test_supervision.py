"""`gumloop-mcp up` supervision: a dying child stops all; SIGTERM stops cleanly; re-runs reuse state."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Stack, start_stack
from .test_system import session


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


def test_a_dying_child_stops_everything_with_a_clear_message(own_stack: Stack) -> None:
    """Killing the token service makes `up` stop the rest and exit non-zero naming it."""
    children = _children(own_stack.process.pid)
    assert set(children) == {"services.tokens", "services.gumloop_proxy", "services.mcp_facade"}
    os.kill(children["services.tokens"], signal.SIGKILL)
    code = own_stack.process.wait(30)
    assert code != 0
    assert "tokens exited" in own_stack.logs()
    assert _children(own_stack.process.pid) == {}


def test_sigterm_stops_all_children_and_exits_zero(own_stack: Stack) -> None:
    """SIGTERM to `up` stops every service gracefully and exits 0."""
    children = _children(own_stack.process.pid)
    own_stack.process.send_signal(signal.SIGTERM)
    assert own_stack.process.wait(30) == 0
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


def test_up_with_the_redis_store_mints_and_serves(tmp_path: Path, redis_url: str) -> None:
    """`up --store redis --redis-url URL` bootstraps into Redis and the demo URL lists tools."""
    with start_stack(tmp_path, "--store", "redis", "--redis-url", redis_url) as running:
        assert running.ready["mcp_url"].startswith("http://127.0.0.1:")
        assert not (tmp_path / "data" / "tokens.sqlite3").exists()
        teams = asyncio.run(_call(running.ready["mcp_url"], "list_all_gumloop_teams"))
        assert not teams.is_error, teams.content
