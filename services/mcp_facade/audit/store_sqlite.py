"""The audit trail in a local SQLite file (0600, WAL), all SQL on one dedicated thread.

Like the token service's store: sqlite3 connections are not shared across threads, so a
single-worker executor runs every statement and the event loop never blocks on disk. The
recorder writes batches, so a burst of calls costs one transaction per batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

from gumloop_mcp.runtime import private_file

from .records import AuditPage, AuditQuery, AuditRecord, page_of
from .store import AuditStore, AuditUnavailable

__all__ = ["SqliteAuditStore"]

T = TypeVar("T")

_COLUMNS: Final = (
    "id, time_ms, server_id, tool, outcome, latency_ms, client_name, protocol_version, subject, "
    "arguments, result"
)
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS audit_calls (
    id TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    server_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    client_name TEXT NOT NULL,
    protocol_version TEXT NOT NULL,
    subject TEXT NOT NULL,
    arguments TEXT,
    result TEXT,
    PRIMARY KEY (server_id, time_ms, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_calls_time ON audit_calls (time_ms);
"""


def _record(row: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        time_ms=row["time_ms"],
        server_id=row["server_id"],
        tool=row["tool"],
        outcome=row["outcome"],
        latency_ms=row["latency_ms"],
        client_name=row["client_name"],
        protocol_version=row["protocol_version"],
        subject=row["subject"],
        arguments=row["arguments"],
        result=row["result"],
    )


class SqliteAuditStore(AuditStore):
    """AuditStore on a local SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._conn is None:
                raise AuditUnavailable("audit store is closed")
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise AuditUnavailable(f"audit store: {exc.__class__.__name__}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def start(self) -> None:
        def open_db() -> None:
            if self._conn is not None:
                return
            private_file(self._path)  # 0600 before sqlite creates the file and its journals
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn

        await asyncio.get_running_loop().run_in_executor(self._executor, open_db)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def close_db() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close_db)
        self._executor.shutdown(wait=True)

    async def append(self, records: Sequence[AuditRecord]) -> None:
        rows = [
            (
                r.id,
                r.time_ms,
                r.server_id,
                r.tool,
                r.outcome,
                r.latency_ms,
                r.client_name,
                r.protocol_version,
                r.subject,
                r.arguments,
                r.result,
            )
            for r in records
        ]

        def insert(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.executemany(
                    f"INSERT OR IGNORE INTO audit_calls ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows
                )

        await self._run(insert)

    async def query(self, query: AuditQuery) -> AuditPage:
        filters: list[tuple[str, Any]] = [
            ("server_id = ?", query.server_id),
            ("tool = ?", query.tool),
            ("outcome = ?", query.outcome),
            ("client_name = ?", query.client_name),
            ("time_ms >= ?", query.since_ms),
            ("time_ms < ?", query.until_ms),
        ]
        where = [clause for clause, value in filters if value is not None]
        args: list[Any] = [value for _, value in filters if value is not None]
        if query.after is not None:
            where.append("(time_ms < ? OR (time_ms = ? AND id < ?))")
            args += [query.after[0], query.after[0], query.after[1]]
        sql = (
            f"SELECT {_COLUMNS} FROM audit_calls WHERE {' AND '.join(where)} "
            "ORDER BY time_ms DESC, id DESC LIMIT ?"
        )
        args.append(query.limit + 1)

        def select(conn: sqlite3.Connection) -> list[AuditRecord]:
            return [_record(row) for row in conn.execute(sql, args)]

        return page_of(await self._run(select), query.limit)

    async def sweep(self, before_ms: int) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM audit_calls WHERE time_ms < ?", (before_ms,)).rowcount

        return await self._run(delete)

    async def summary(self, server_id: str, since_ms: int) -> tuple[int | None, int]:
        def select(conn: sqlite3.Connection) -> tuple[int | None, int]:
            last = conn.execute(
                "SELECT MAX(time_ms) FROM audit_calls WHERE server_id = ?", (server_id,)
            ).fetchone()[0]
            count = conn.execute(
                "SELECT COUNT(*) FROM audit_calls WHERE server_id = ? AND time_ms >= ?", (server_id, since_ms)
            ).fetchone()[0]
            return last, int(count)

        return await self._run(select)

    async def latest(self, server_id: str, outcomes: frozenset[str]) -> AuditRecord | None:
        if not outcomes:
            return None
        marks = ",".join("?" * len(outcomes))
        sql = (
            f"SELECT {_COLUMNS} FROM audit_calls WHERE server_id = ? AND outcome IN ({marks}) "
            "ORDER BY time_ms DESC, id DESC LIMIT 1"
        )
        args = [server_id, *sorted(outcomes)]

        def select(conn: sqlite3.Connection) -> AuditRecord | None:
            row = conn.execute(sql, args).fetchone()
            return None if row is None else _record(row)

        return await self._run(select)
