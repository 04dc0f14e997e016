"""The audit trail's stores (memory, SQLite, Redis) against one contract, and recording through a façade."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.mcp_facade.audit import AuditQuery, AuditRecord, AuditStore, MemoryAuditStore
from services.mcp_facade.audit.records import decode_cursor
from services.mcp_facade.audit.store_redis import RedisAuditStore
from services.mcp_facade.audit.store_sqlite import SqliteAuditStore

from .conftest import Stack, sdk_session

Factory = Callable[[], AuditStore]


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """A factory of stores over the same data (a new SQLite connection, a new Redis client)."""
    opened: list[AuditStore] = []
    memory = MemoryAuditStore()

    def make() -> AuditStore:
        if request.param == "memory":
            store: AuditStore = memory
        elif request.param == "sqlite":
            store = SqliteAuditStore(tmp_path / "data" / "audit.sqlite3")
        else:
            store = RedisAuditStore(request.getfixturevalue("clean_redis_url"), "test:")
        opened.append(store)
        return store

    if request.param == "redis":
        request.getfixturevalue("clean_redis_url")
    yield make
    for store in opened:
        if request.param != "memory":
            await store.close()


def _rec(
    time_ms: int,
    server_id: str = "mcp_1",
    tool: str = "echo",
    outcome: str = "ok",
    client_name: str = "claude-ai",
) -> AuditRecord:
    return AuditRecord(
        time_ms=time_ms,
        server_id=server_id,
        tool=tool,
        outcome=outcome,
        latency_ms=time_ms / 1000,
        client_name=client_name,
        protocol_version="2025-11-25",
    )


async def test_store_contract_paging_filters_retention_and_summary(make_store: Factory) -> None:
    store = make_store()
    await store.start()
    batch = [_rec(1_000 + i // 2, tool=("echo", "slow", "fail")[i % 3]) for i in range(30)]
    batch += [_rec(1_020, server_id="mcp_2"), _rec(900, outcome="tool_error", client_name="cursor")]
    await store.append(batch)

    seen: list[AuditRecord] = []
    after = None
    while True:
        page = await store.query(AuditQuery("mcp_1", limit=7, after=after))
        seen += page.records
        if not page.next_cursor:
            break
        after = decode_cursor(page.next_cursor)
    assert len(seen) == 31 and {r.server_id for r in seen} == {"mcp_1"}
    assert [(r.time_ms, r.id) for r in seen] == sorted(((r.time_ms, r.id) for r in seen), reverse=True)
    assert seen[0].client_name == "claude-ai" and seen[0].latency_ms == seen[0].time_ms / 1000

    slow = await store.query(AuditQuery("mcp_1", limit=100, tool="slow", since_ms=1_002, until_ms=1_010))
    assert slow.records and all(r.tool == "slow" and 1_002 <= r.time_ms < 1_010 for r in slow.records)
    expected = sum(
        1 for r in batch if r.server_id == "mcp_1" and r.tool == "slow" and 1_002 <= r.time_ms < 1_010
    )
    assert len(slow.records) == expected
    errors = await store.query(AuditQuery("mcp_1", outcome="tool_error"))
    assert [r.time_ms for r in errors.records] == [900]
    by_client = await store.query(AuditQuery("mcp_1", client_name="cursor"))
    assert [(r.time_ms, r.client_name) for r in by_client.records] == [(900, "cursor")]
    assert (await store.query(AuditQuery("mcp_1", client_name="claude"))).records == []  # exact match

    assert await store.summary("mcp_1", 1_010) == (1_014, 10)
    assert await store.summary("nobody", 0) == (None, 0)
    newest_error = await store.latest("mcp_1", frozenset({"tool_error"}))
    assert newest_error is not None and newest_error.time_ms == 900
    newest_ok = await store.latest("mcp_1", frozenset({"ok", "tool_error"}))
    assert newest_ok is not None and newest_ok.time_ms == 1_014
    assert await store.latest("mcp_1", frozenset({"credentials_rejected"})) is None
    assert await store.latest("nobody", frozenset({"ok"})) is None
    assert await store.sweep(1_005) == 11  # 900 and 1000..1004 of mcp_1 (10); none of mcp_2 (1020)
    remaining = await store.query(AuditQuery("mcp_1", limit=100))
    assert min(r.time_ms for r in remaining.records) == 1_005
    assert [r.time_ms for r in (await store.query(AuditQuery("mcp_2"))).records] == [1_020]


async def test_a_restarted_store_still_has_the_trail(make_store: Factory) -> None:
    first = make_store()
    await first.start()
    await first.append([_rec(5_000), _rec(5_001, tool="slow")])
    if not isinstance(first, MemoryAuditStore):
        await first.close()
        second = make_store()
    else:
        second = first  # memory: nothing to reopen; the contract test covers it
    await second.start()
    page = await second.query(AuditQuery("mcp_1"))
    assert [(r.time_ms, r.tool) for r in page.records] == [(5_001, "slow"), (5_000, "echo")]


async def test_the_sqlite_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "audit.sqlite3"
    store = SqliteAuditStore(path)
    await store.start()
    await store.append([_rec(1)])
    try:
        for f in [path, *path.parent.glob("audit.sqlite3-*")]:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    finally:
        await store.close()


async def _modern_call(url: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-client", "version": "1"},
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": meta},
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
    }
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as resp:
        reply: dict[str, Any] = await resp.json()
        return reply


async def test_tool_calls_through_the_facade_are_recorded_without_their_arguments(
    stack: Stack, tmp_path: Path
) -> None:
    """A session call and a 2026-07-28 call land in the trail with outcome, latency and client name."""
    server = await stack.make(data_dir=str(tmp_path))  # auto: SQLite under the data dir
    url = f"http://127.0.0.1:{server.public_port}/mcp/{stack.token}"
    async with sdk_session(url) as session:
        await session.initialize()
        ok = await session.call_tool("echo", {"text": "customer-secret-4711"})
        assert ok.is_error is False
    reply = await _modern_call(url, "nope", {"text": "other-secret-0815"})
    assert reply["error"]["code"] == -32602
    assert server.audit is not None
    await asyncio.wait_for(server.audit.flush(), 5)
    assert (tmp_path / "facade-audit.sqlite3").exists()
    page = await server.audit.store.query(AuditQuery("mcp_1"))
    assert [(r.tool, r.outcome) for r in page.records] == [("nope", "unknown_tool"), ("echo", "ok")]
    unknown, echo = page.records
    assert echo.client_name == "mcp" and echo.protocol_version == "2025-11-25"
    assert unknown.client_name == "raw-client" and unknown.protocol_version == "2026-07-28"
    assert all(r.latency_ms >= 0 and r.subject == "" for r in page.records)
    dumped = json.dumps([r.public() for r in page.records])
    assert "secret" not in dumped and stack.token not in dumped


async def test_a_server_that_opted_in_has_its_arguments_and_results_recorded(stack: Stack) -> None:
    stack.tokens.server_of(stack.token).config.audit_payloads = True
    server = await stack.make()
    url = f"http://127.0.0.1:{server.public_port}/mcp/{stack.token}"
    async with sdk_session(url) as session:
        await session.initialize()
        await session.call_tool("echo", {"text": "kept on purpose"})
    assert server.audit is not None
    await asyncio.wait_for(server.audit.flush(), 5)
    (record,) = (await server.audit.store.query(AuditQuery("mcp_1"))).records
    assert json.loads(record.arguments or "") == {"text": "kept on purpose"}
    assert json.loads(record.result or "")["structuredContent"] == {"echo": "mcp_1:kept on purpose"}


async def test_a_facade_on_redis_keeps_its_trail_in_redis_across_a_restart(
    stack: Stack, clean_redis_url: str
) -> None:
    """GMCP_FACADE_STORE=redis: the audit trail goes to Redis too, and a new façade process reads it."""
    first = await stack.make(store="redis", redis_url=clean_redis_url)
    assert isinstance(first.audit and first.audit.store, RedisAuditStore)
    url = f"http://127.0.0.1:{first.public_port}/mcp/{stack.token}"
    async with sdk_session(url) as session:
        await session.initialize()
        await session.call_tool("echo", {"text": "x"})
    await first.close()  # drains the queue into Redis
    second = await stack.make(store="redis", redis_url=clean_redis_url)
    assert second.audit is not None
    page = await second.audit.store.query(AuditQuery("mcp_1"))
    assert [(r.tool, r.outcome, r.client_name) for r in page.records] == [("echo", "ok", "mcp")]


async def test_a_burst_of_calls_never_waits_on_a_stuck_audit_store(stack: Stack) -> None:
    """The store hangs: every call still answers at once; what the queue cannot hold is counted as dropped."""
    server = await stack.make(audit_queue_size=2)
    assert server.audit is not None
    stuck = asyncio.Event()
    entered = asyncio.Event()

    async def hang(records: Any) -> None:
        entered.set()
        await stuck.wait()

    server.audit.store.append = hang  # type: ignore[method-assign]
    url = f"http://127.0.0.1:{server.public_port}/mcp/{stack.token}"
    async with sdk_session(url) as session:
        await session.initialize()
        for i in range(6):
            result = await asyncio.wait_for(session.call_tool("echo", {"text": str(i)}), 5)
            assert result.is_error is False
    await asyncio.wait_for(entered.wait(), 5)
    registry = server.facade.metrics.registry if server.facade.metrics else None
    assert registry is not None
    dropped = registry.get_sample_value("gmcp_facade_audit_dropped_total", {"reason": "queue_full"})
    assert dropped == 3  # one held by the stuck writer, two queued
    stuck.set()
