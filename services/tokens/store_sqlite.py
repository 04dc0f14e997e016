"""The embedded SQLite backend: one file, WAL journal, one writer thread, revocations fanned out locally.

All SQL runs on a single dedicated thread (sqlite3 connections are not shared across threads), so
the event loop never blocks on disk and statements never interleave. Expired rows are deleted by the
`ExpiryScheduler` at their due time; until then every read filters on the clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TypeVar

from gumloop_mcp.runtime import private_file

from .errors import StoreUnavailable
from .expiry import ExpiryScheduler
from .revocations import RevocationHub
from .sqlite_schema import API_COLUMNS, LIVE, SCHEMA, SERVER_COLUMNS, api_from_row, migrate, server_from_row
from .store import (
    ApiTokenRecord,
    Clock,
    Cursor,
    Resolution,
    RevocationEvent,
    RevocationKind,
    ScopeChanged,
    ServerRecord,
    ServerUpdate,
)

__all__ = ["SqliteTokenStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The server columns as selected through the "s" alias of a join.
_QUALIFIED_SERVER_COLUMNS: Final = ", ".join("s." + c.strip() for c in SERVER_COLUMNS.split(","))


def _same(value: Any) -> Any:
    return value


def _json_list(value: Any) -> str:
    return json.dumps(list(value))


# How an updatable field is stored, when not as is (column names are the field names).
_COLUMN_ENCODERS: Final[dict[str, Callable[[Any], Any]]] = {
    "methods": _json_list,
    "tags": _json_list,
    "require_api_token_auth": int,
    "audit_payloads": int,
    "require_oauth": int,
    "oauth_allowed_emails": _json_list,
    "oauth_allowed_domains": _json_list,
    "oauth_allowed_groups": _json_list,
}


class SqliteTokenStore:
    """TokenStore on a local SQLite file (see store.TokenStore for the contract)."""

    def __init__(self, path: Path, hub: RevocationHub, clock: Clock) -> None:
        self._path = path
        self._hub = hub
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokens-sqlite")
        self._conn: sqlite3.Connection | None = None
        self.expiry = ExpiryScheduler(clock, self.sweep)

    # -- plumbing ---------------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._conn is None:
                raise StoreUnavailable("token store is closed")
            with self._conn:  # one transaction per call: commit, or roll back on error
                return fn(self._conn)

        if self._conn is None:  # closed (or never opened): the executor may be gone too
            raise StoreUnavailable("token store (SQLite) is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except sqlite3.Error as exc:
            logger.error("sqlite store failed: %s", exc)
            raise StoreUnavailable(f"token store (SQLite) failed: {exc}") from exc

    def _emit(self, kind: RevocationKind, *, server_id: str = "", api_token_id: str = "") -> None:
        self._hub.publish(
            RevocationEvent(
                kind, mcp_server_id=server_id, api_token_id=api_token_id, event_time=self._clock()
            )
        )

    async def start(self) -> None:
        """Open the file (WAL), create the schema, schedule every stored expiry."""

        def open_db() -> list[float]:
            private_file(self._path)  # 0600 (and its WAL files), in a 0700 directory
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            # Deleted rows (token hashes included) are overwritten, not left in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(SCHEMA)
            migrate(conn)
            conn.isolation_level = "DEFERRED"
            self._conn = conn
            rows = conn.execute(
                "SELECT expire_time FROM servers WHERE expire_time IS NOT NULL "
                "UNION ALL SELECT until FROM server_tokens WHERE until IS NOT NULL "
                "UNION ALL SELECT expire_time FROM api_tokens WHERE expire_time IS NOT NULL"
            ).fetchall()
            return [row[0] for row in rows]

        try:
            dues = await asyncio.get_running_loop().run_in_executor(self._executor, open_db)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open token store {self._path}: {exc}") from exc
        for due in dues:
            self.expiry.schedule(due)
        self.expiry.start()
        logger.info("sqlite token store at %s", self._path)

    async def close(self) -> None:
        """Stop the scheduler and close the file."""
        await self.expiry.stop()

        def close_db() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close_db)
        self._executor.shutdown(wait=True)

    # -- expiry -----------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete expired servers, grace tokens and API tokens; emit EXPIRED / API_TOKEN_REVOKED."""
        now = self._clock()

        def delete_due(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
            servers = [
                r[0] for r in conn.execute("DELETE FROM servers WHERE expire_time <= ? RETURNING id", (now,))
            ]
            conn.execute("DELETE FROM server_tokens WHERE until <= ?", (now,))
            apis = [
                r[0]
                for r in conn.execute("DELETE FROM api_tokens WHERE expire_time <= ? RETURNING id", (now,))
            ]
            return servers, apis

        servers, apis = await self._run(delete_due)
        for server_id in servers:
            self._emit(RevocationKind.EXPIRED, server_id=server_id)
        for token_id in apis:
            self._emit(RevocationKind.API_TOKEN_REVOKED, api_token_id=token_id)
        if servers or apis:
            logger.info("expired %d mcp servers and %d api tokens", len(servers), len(apis))
        return len(servers) + len(apis)

    # -- MCP servers ------------------------------------------------------------------------------

    async def create_server(self, record: ServerRecord, token_hash: str) -> None:
        """Insert the record and its current token hash in one transaction."""

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO servers ({SERVER_COLUMNS}) VALUES ({', '.join('?' * 18)})",
                (
                    record.id,
                    record.name,
                    record.account_id,
                    json.dumps(list(record.methods)),
                    json.dumps(list(record.tags)),
                    record.expire_time,
                    int(record.require_api_token_auth),
                    record.create_time,
                    record.update_time,
                    record.last_used_time,
                    record.token_prefix,
                    record.tool_exposure,
                    record.context_budget_tokens,
                    int(record.audit_payloads),
                    int(record.require_oauth),
                    json.dumps(list(record.oauth_allowed_emails)),
                    json.dumps(list(record.oauth_allowed_domains)),
                    json.dumps(list(record.oauth_allowed_groups)),
                ),
            )
            conn.execute(
                "INSERT INTO server_tokens (token_hash, server_id, until) VALUES (?, ?, NULL)",
                (token_hash, record.id),
            )

        await self._run(insert)
        if record.expire_time is not None:
            self.expiry.schedule(record.expire_time)

    async def get_server(self, server_id: str) -> ServerRecord | None:
        """The live record with this id."""
        now = self._clock()

        def select(conn: sqlite3.Connection) -> ServerRecord | None:
            row = conn.execute(
                f"SELECT {SERVER_COLUMNS} FROM servers WHERE id = ? AND {LIVE}", (server_id, now)
            ).fetchone()
            return server_from_row(row) if row else None

        return await self._run(select)

    async def list_servers(
        self, account_id: str, limit: int, after: Cursor | None
    ) -> tuple[list[ServerRecord], Cursor | None]:
        """A newest-first page of an account's live records."""
        now = self._clock()

        def select(conn: sqlite3.Connection) -> list[ServerRecord]:
            sql = f"SELECT {SERVER_COLUMNS} FROM servers WHERE account_id = ? AND {LIVE}"
            args: list[Any] = [account_id, now]
            if after is not None:
                sql += " AND (create_time < ? OR (create_time = ? AND id < ?))"
                args += [after[0], after[0], after[1]]
            sql += " ORDER BY create_time DESC, id DESC LIMIT ?"
            args.append(limit + 1)
            return [server_from_row(row) for row in conn.execute(sql, args)]

        rows = await self._run(select)
        page = rows[:limit]
        cursor = (page[-1].create_time, page[-1].id) if len(rows) > limit else None
        return page, cursor

    async def update_server(self, server_id: str, update: ServerUpdate) -> ServerRecord | None:
        """Set only the updated columns of a live record in one transaction; grace tokens never
        outlive a new expiry."""
        now = self._clock()
        changes = update.changes()
        values = {name: _COLUMN_ENCODERS.get(name, _same)(value) for name, value in changes.items()}
        assignments = ", ".join(f"{name} = ?" for name in values)

        def apply(conn: sqlite3.Connection) -> ServerRecord | None:
            if update.expect_methods is not None or update.expect_tags is not None:
                row = conn.execute(
                    f"SELECT methods, tags FROM servers WHERE id = ? AND {LIVE}", (server_id, now)
                ).fetchone()
                if row is None:
                    return None
                if update.scope_moved(tuple(json.loads(row["methods"])), tuple(json.loads(row["tags"]))):
                    raise ScopeChanged(server_id)
            rows = conn.execute(
                f"UPDATE servers SET {assignments} WHERE id = ? AND {LIVE} RETURNING {SERVER_COLUMNS}",
                (*values.values(), server_id, now),
            ).fetchall()
            if not rows:
                return None
            expire = changes.get("expire_time")
            if expire is not None:
                conn.execute(
                    "UPDATE server_tokens SET until = ? WHERE server_id = ? AND until > ?",
                    (expire, server_id, expire),
                )
            return server_from_row(rows[0])

        record = await self._run(apply)
        if record is None:
            return None
        if record.expire_time is not None:
            self.expiry.schedule(record.expire_time)
        self._emit(RevocationKind.UPDATED, server_id=server_id)
        return record

    async def delete_server(self, server_id: str) -> bool:
        """Delete the record; its token hashes go with it (ON DELETE CASCADE)."""
        now = self._clock()

        def delete(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                f"DELETE FROM servers WHERE id = ? AND {LIVE} RETURNING id", (server_id, now)
            ).fetchall()
            return bool(row)

        deleted = await self._run(delete)
        if deleted:
            self._emit(RevocationKind.DELETED, server_id=server_id)
        return deleted

    async def rotate_server_token(
        self, server_id: str, new_hash: str, new_prefix: str, old_token_until: float
    ) -> ServerRecord | None:
        """Swap the current hash; the old one lives until `old_token_until` (deleted now if already due)."""
        now = self._clock()

        def rotate(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                f"UPDATE servers SET token_prefix = ?, update_time = ? WHERE id = ? AND {LIVE}",
                (new_prefix, now, server_id, now),
            )
            if not cur.rowcount:
                return False
            if old_token_until <= now:
                conn.execute("DELETE FROM server_tokens WHERE server_id = ? AND until IS NULL", (server_id,))
            else:
                conn.execute(
                    "UPDATE server_tokens SET until = ? WHERE server_id = ? AND until IS NULL",
                    (old_token_until, server_id),
                )
            conn.execute(
                "INSERT INTO server_tokens (token_hash, server_id, until) VALUES (?, ?, NULL)",
                (new_hash, server_id),
            )
            return True

        if not await self._run(rotate):
            return None
        if old_token_until > now:
            self.expiry.schedule(old_token_until)
        self._emit(RevocationKind.ROTATED, server_id=server_id)
        return await self.get_server(server_id)

    async def resolve(self, token_hash: str, touch_after_s: float) -> Resolution | None:
        """Look the hash up; refresh last-used at most every `touch_after_s`."""
        now = self._clock()

        def lookup(conn: sqlite3.Connection) -> Resolution | None:
            row = conn.execute(
                f"SELECT t.until AS until, t.token_hash AS stored_hash, {_QUALIFIED_SERVER_COLUMNS} "
                "FROM server_tokens t JOIN servers s ON s.id = t.server_id "
                "WHERE t.token_hash = ? AND (t.until IS NULL OR t.until > ?) "
                "AND (s.expire_time IS NULL OR s.expire_time > ?)",
                (token_hash, now, now),
            ).fetchone()
            if row is None:
                return None
            record = server_from_row(row)
            if record.last_used_time is None or now - record.last_used_time >= touch_after_s:
                conn.execute("UPDATE servers SET last_used_time = ? WHERE id = ?", (now, record.id))
                record = replace(record, last_used_time=now)
            until = row["until"]
            ends = [t for t in (until, record.expire_time) if t is not None]
            return Resolution(record, min(ends) if ends else None, row["stored_hash"])

        return await self._run(lookup)

    # -- API tokens -------------------------------------------------------------------------------

    async def create_api_token(self, record: ApiTokenRecord, token_hash: str) -> None:
        """Insert an API token record."""

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO api_tokens (token_hash, {API_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token_hash,
                    record.id,
                    record.name,
                    json.dumps(list(record.purposes)),
                    record.account_id,
                    record.expire_time,
                    record.create_time,
                    record.last_used_time,
                    record.token_prefix,
                ),
            )

        await self._run(insert)
        if record.expire_time is not None:
            self.expiry.schedule(record.expire_time)

    async def list_api_tokens(
        self, account_id: str, limit: int, after: Cursor | None
    ) -> tuple[list[ApiTokenRecord], Cursor | None]:
        """A newest-first page of live API tokens."""
        now = self._clock()

        def select(conn: sqlite3.Connection) -> list[ApiTokenRecord]:
            sql = f"SELECT {API_COLUMNS} FROM api_tokens WHERE {LIVE}"
            args: list[Any] = [now]
            if account_id:
                sql += " AND account_id = ?"
                args.append(account_id)
            if after is not None:
                sql += " AND (create_time < ? OR (create_time = ? AND id < ?))"
                args += [after[0], after[0], after[1]]
            sql += " ORDER BY create_time DESC, id DESC LIMIT ?"
            args.append(limit + 1)
            return [api_from_row(row) for row in conn.execute(sql, args)]

        rows = await self._run(select)
        page = rows[:limit]
        cursor = (page[-1].create_time, page[-1].id) if len(rows) > limit else None
        return page, cursor

    async def delete_api_token(self, token_id: str) -> bool:
        """Hard-delete an API token."""
        now = self._clock()

        def delete(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                f"DELETE FROM api_tokens WHERE id = ? AND {LIVE} RETURNING id", (token_id, now)
            ).fetchall()
            return bool(row)

        deleted = await self._run(delete)
        if deleted:
            self._emit(RevocationKind.API_TOKEN_REVOKED, api_token_id=token_id)
        return deleted

    async def verify_api_token(
        self, token_hash: str, touch_after_s: float
    ) -> tuple[ApiTokenRecord, str] | None:
        """The live API token with this hash, and the hash as stored."""
        now = self._clock()

        def lookup(conn: sqlite3.Connection) -> tuple[ApiTokenRecord, str] | None:
            row = conn.execute(
                f"SELECT token_hash, {API_COLUMNS} FROM api_tokens WHERE token_hash = ? AND {LIVE}",
                (token_hash, now),
            ).fetchone()
            if row is None:
                return None
            record = api_from_row(row)
            if record.last_used_time is None or now - record.last_used_time >= touch_after_s:
                conn.execute("UPDATE api_tokens SET last_used_time = ? WHERE id = ?", (now, record.id))
                record = replace(record, last_used_time=now)
            return record, str(row["token_hash"])

        return await self._run(lookup)
