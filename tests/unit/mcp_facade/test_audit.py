"""Unit tests of the audit trail: the recorder's queue, retention, payload opt-in, paging, CSV, queries."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Sequence

import grpc
import pytest
from prometheus_client import CollectorRegistry

from services.mcp_facade.audit import AuditQuery, AuditRecord, AuditRecorder, MemoryAuditStore
from services.mcp_facade.audit.api import InvalidActivityQuery, parse_query
from services.mcp_facade.audit.export import csv_header, csv_rows, safe_cell
from services.mcp_facade.audit.recorder import MAX_PAYLOAD_CHARS, client_name_of
from services.mcp_facade.audit.records import FIELDS, InvalidCursor, decode_cursor, encode_cursor
from services.mcp_facade.audit.store import AuditUnavailable
from services.mcp_facade.tools.tool_errors import rpc_error_result


class BlockedStore(MemoryAuditStore):
    """A store whose appends wait until `release` is set (a slow disk, a hung Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def append(self, records: Sequence[AuditRecord]) -> None:
        self.entered.set()
        await self.release.wait()
        await super().append(records)


class DownStore(MemoryAuditStore):
    async def append(self, records: Sequence[AuditRecord]) -> None:
        raise AuditUnavailable("audit store: ConnectionError")


def _record(time_ms: int, tool: str = "echo", outcome: str = "ok", server_id: str = "mcp_1") -> AuditRecord:
    return AuditRecord(time_ms=time_ms, server_id=server_id, tool=tool, outcome=outcome, latency_ms=1.5)


def _dropped(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("gmcp_facade_audit_dropped_total", {"reason": reason}) or 0.0


async def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    """With the store stuck, records beyond the queue's size are dropped at once and counted."""
    registry = CollectorRegistry()
    store = BlockedStore()
    recorder = AuditRecorder(store, queue_size=2, retention_s=3600, registry=registry)
    await recorder.start()
    recorder.record(_record(1))
    await asyncio.wait_for(store.entered.wait(), 5)  # the writer holds record 1 in a stuck append
    for t in range(2, 7):  # 2 fit in the queue, 3 do not; none of these calls waits
        recorder.record(_record(t))
    assert _dropped(registry, "queue_full") == 3
    assert registry.get_sample_value("gmcp_facade_audit_queue_depth") == 2
    store.release.set()
    await asyncio.wait_for(recorder.flush(), 5)
    page = await store.query(AuditQuery("mcp_1", limit=10))
    assert [r.time_ms for r in page.records] == [3, 2, 1]
    assert registry.get_sample_value("gmcp_facade_audit_written_total") == 3
    await recorder.close()


class CountingStore(MemoryAuditStore):
    """Remembers the size of each append (one per batch the writer hands over)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def append(self, records: Sequence[AuditRecord]) -> None:
        self.batches.append(len(records))
        await super().append(records)


@pytest.mark.parametrize(("linger_s", "batches"), [(0.05, [5]), (0.0, [1, 4])])
async def test_records_of_calls_close_together_share_one_append(linger_s: float, batches: list[int]) -> None:
    """The writer waits `linger_s` after a batch's first record: the next calls' records join that
    batch (one store transaction) instead of each being written on its own."""
    store = CountingStore()
    # A retention longer than the records' age (time_ms 1-5): the first sweep keeps them.
    recorder = AuditRecorder(
        store, queue_size=10, retention_s=1e10, registry=CollectorRegistry(), linger_s=linger_s
    )
    await recorder.start()
    recorder.record(_record(1))
    for _ in range(5):
        await asyncio.sleep(0)  # the writer takes record 1 (and, without a linger, writes it)
    for t in range(2, 6):
        recorder.record(_record(t))
    await asyncio.wait_for(recorder.flush(), 5)
    assert store.batches == batches
    page = await store.query(AuditQuery("mcp_1", limit=10))
    assert [r.time_ms for r in page.records] == [5, 4, 3, 2, 1]
    await recorder.close()


async def test_a_refused_batch_is_dropped_counted_and_the_writer_goes_on() -> None:
    registry = CollectorRegistry()
    recorder = AuditRecorder(DownStore(), queue_size=10, retention_s=3600, registry=registry)
    await recorder.start()
    recorder.record(_record(1))
    recorder.record(_record(2))
    await asyncio.wait_for(recorder.flush(), 5)
    assert _dropped(registry, "store_unavailable") == 2
    recorder.record(_record(3))
    await asyncio.wait_for(recorder.flush(), 5)
    assert _dropped(registry, "store_unavailable") == 3
    await recorder.close()


async def test_retention_removes_only_records_older_than_the_period() -> None:
    now = [10_000.0]
    store = MemoryAuditStore()
    recorder = AuditRecorder(
        store, queue_size=10, retention_s=100, registry=CollectorRegistry(), clock=lambda: now[0]
    )
    await store.append([_record(9_850_000), _record(9_899_999), _record(9_900_000), _record(9_990_000)])
    assert await recorder.sweep() == 2
    page = await store.query(AuditQuery("mcp_1"))
    assert [r.time_ms for r in page.records] == [9_990_000, 9_900_000]
    now[0] += 1000
    assert await recorder.sweep() == 2
    assert (await store.query(AuditQuery("mcp_1"))).records == []


async def test_arguments_and_results_are_not_kept_unless_the_server_opted_in() -> None:
    store = MemoryAuditStore()
    recorder = AuditRecorder(store, queue_size=10, retention_s=3600, registry=CollectorRegistry())
    await recorder.start()
    secret = {"text": "customer-secret-4711"}
    result = {"content": [{"type": "text", "text": "answer-secret-0815"}]}
    common = {"tool": "echo", "outcome": "ok", "latency_s": 0.25, "arguments": secret, "result": result}
    recorder.tool_call(server_id="mcp_1", client_name="claude-ai", protocol_version="2025-11-25", **common)
    recorder.tool_call(server_id="mcp_2", payloads=True, **common)
    await asyncio.wait_for(recorder.flush(), 5)
    plain = (await store.query(AuditQuery("mcp_1"))).records[0]
    assert plain.arguments is None and plain.result is None
    assert "customer-secret" not in json.dumps(plain.public())
    assert (plain.client_name, plain.protocol_version, plain.latency_ms) == ("claude-ai", "2025-11-25", 250.0)
    opted = (await store.query(AuditQuery("mcp_2"))).records[0]
    assert json.loads(opted.arguments or "") == secret
    assert json.loads(opted.result or "") == result
    await recorder.close()


async def test_kept_payloads_are_cut_to_the_maximum() -> None:
    store = MemoryAuditStore()
    recorder = AuditRecorder(store, queue_size=10, retention_s=3600, registry=CollectorRegistry())
    await recorder.start()
    big = {"text": "x" * (MAX_PAYLOAD_CHARS * 2)}
    recorder.tool_call(server_id="s", tool="t", outcome="ok", latency_s=0, payloads=True, arguments=big)
    await asyncio.wait_for(recorder.flush(), 5)
    kept = (await store.query(AuditQuery("s"))).records[0].arguments or ""
    assert kept.startswith('{"text":"xxx') and kept.endswith("chars]")
    assert len(kept) < MAX_PAYLOAD_CHARS + 40
    await recorder.close()


def test_client_name_is_cut_and_only_taken_from_a_string() -> None:
    assert client_name_of({"name": "Claude", "version": "1"}) == "Claude"
    assert client_name_of({"name": "n" * 500}) == "n" * 64
    assert client_name_of({"name": 7}) == "" and client_name_of("x") == "" and client_name_of(None) == ""


async def test_paging_walks_every_record_once_across_equal_times_and_filters() -> None:
    store = MemoryAuditStore()
    records = [_record(1000 + i // 3, tool="echo" if i % 2 else "slow") for i in range(25)]
    records.append(_record(5000, server_id="other"))
    await store.append(records)
    seen: list[AuditRecord] = []
    cursor: tuple[int, str] | None = None
    while True:
        page = await store.query(AuditQuery("mcp_1", limit=4, after=cursor))
        seen += page.records
        if not page.next_cursor:
            break
        cursor = decode_cursor(page.next_cursor)
    assert len(seen) == 25 and len({r.id for r in seen}) == 25
    assert [(r.time_ms, r.id) for r in seen] == sorted(((r.time_ms, r.id) for r in seen), reverse=True)
    echo = await store.query(AuditQuery("mcp_1", limit=100, tool="echo", since_ms=1002, until_ms=1005))
    assert echo.records and all(r.tool == "echo" and 1002 <= r.time_ms < 1005 for r in echo.records)
    assert len(echo.records) == sum(1 for r in records[:25] if r.tool == "echo" and 1002 <= r.time_ms < 1005)


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    assert decode_cursor(encode_cursor((123, "abc"))) == (123, "abc")
    for bad in ("", "!!!", "bm9wZQ", encode_cursor((1, "a")) + "x" * 3):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_csv_defuses_formulas_and_escapes_separators_quotes_and_newlines() -> None:
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("+1") == "'+1" and safe_cell("-1") == "'-1" and safe_cell("@x") == "'@x"
    assert safe_cell(None) == "" and safe_cell(-1.5) == "-1.5" and safe_cell("plain") == "plain"
    nasty = AuditRecord(
        time_ms=1_780_000_000_000,
        server_id="mcp_1",
        tool='say, "hi"\nthere',
        outcome="ok",
        latency_ms=12.5,
        client_name="=cmd|' /C calc'!A0",
    )
    text = csv_header() + csv_rows([nasty])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(FIELDS)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["tool"] == 'say, "hi"\nthere'
    assert row["client_name"] == "'=cmd|' /C calc'!A0"
    assert row["latency_ms"] == "12.5" and row["time"] == "2026-05-28T20:26:40.000Z"
    assert row["arguments"] == "" and row["result"] == ""


def test_query_parameters_are_validated_with_every_bad_field_named() -> None:
    query, csv_wanted = parse_query(
        "mcp_1",
        {"limit": "7", "tool": "echo", "outcome": "tool_error", "since": "2026-01-01T00:00:00Z",
         "until": "2026-01-02T00:00:00+01:00", "format": "csv"},
    )  # fmt: skip
    assert csv_wanted and query.limit == 7 and query.tool == "echo" and query.outcome == "tool_error"
    assert query.since_ms == 1_767_225_600_000 and query.until_ms == 1_767_308_400_000
    with pytest.raises(InvalidActivityQuery) as err:
        parse_query(
            "mcp_1",
            {"limit": "0", "outcome": "fine", "since": "yesterday", "format": "xml", "next_cursor": "zz"},
        )
    assert {f for f, _ in err.value.fields} == {"limit", "outcome", "since", "format", "next_cursor"}
    with pytest.raises(InvalidActivityQuery):
        parse_query("mcp_1", {"limit": "x"})
    with pytest.raises(InvalidActivityQuery):
        parse_query("mcp_1", {"tool": ""})


def _rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "refused", None)


async def test_a_call_refused_for_the_accounts_credential_is_recorded_as_credentials_rejected() -> None:
    """The tool error the toolbox makes of Gumloop's 401 marks the account as needing reconnection;
    other tool errors (and a caller refusal, the gateway's own credential) stay tool_error."""
    store = MemoryAuditStore()
    recorder = AuditRecorder(store, queue_size=10, retention_s=3600, registry=CollectorRegistry())
    await recorder.start()
    cases = {
        "gumloop_401": rpc_error_result(_rpc_error(grpc.StatusCode.UNAUTHENTICATED), tool="t"),
        "not_found": rpc_error_result(_rpc_error(grpc.StatusCode.NOT_FOUND), tool="t"),
        "no_structure": {"content": [], "isError": True},
    }
    for tool, result in cases.items():
        recorder.tool_call(server_id="s", tool=tool, outcome="tool_error", latency_s=0, result=result)
    recorder.tool_call(server_id="s", tool="fine", outcome="ok", latency_s=0, result=cases["gumloop_401"])
    await asyncio.wait_for(recorder.flush(), 5)
    got = {r.tool: r.outcome for r in (await store.query(AuditQuery("s"))).records}
    assert got == {
        "gumloop_401": "credentials_rejected",
        "not_found": "tool_error",
        "no_structure": "tool_error",
        "fine": "ok",
    }
    assert all(r.result is None for r in (await store.query(AuditQuery("s"))).records)  # not opted in
    await recorder.close()
