"""The SQLite store's schema and row mapping."""

from __future__ import annotations

import json
import sqlite3
from typing import Final

from .store import ApiTokenRecord, ServerRecord

__all__ = ["API_COLUMNS", "LIVE", "SCHEMA", "SERVER_COLUMNS", "api_from_row", "migrate", "server_from_row"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS servers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    account_id TEXT NOT NULL,
    methods TEXT NOT NULL,
    tags TEXT NOT NULL,
    expire_time REAL,
    require_api_token_auth INTEGER NOT NULL,
    create_time REAL NOT NULL,
    update_time REAL NOT NULL,
    last_used_time REAL,
    token_prefix TEXT NOT NULL,
    tool_exposure TEXT NOT NULL DEFAULT '',
    context_budget_tokens INTEGER NOT NULL DEFAULT 0,
    audit_payloads INTEGER NOT NULL DEFAULT 0,
    require_oauth INTEGER NOT NULL DEFAULT 0,
    oauth_allowed_emails TEXT NOT NULL DEFAULT '[]',
    oauth_allowed_domains TEXT NOT NULL DEFAULT '[]',
    oauth_allowed_groups TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS servers_by_account ON servers (account_id, create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS servers_by_expiry ON servers (expire_time) WHERE expire_time IS NOT NULL;
-- until IS NULL: the current token; otherwise an old token living out its rotation grace.
CREATE TABLE IF NOT EXISTS server_tokens (
    token_hash TEXT PRIMARY KEY,
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    until REAL
);
CREATE INDEX IF NOT EXISTS server_tokens_by_server ON server_tokens (server_id);
CREATE INDEX IF NOT EXISTS server_tokens_by_until ON server_tokens (until) WHERE until IS NOT NULL;
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    purposes TEXT NOT NULL,
    account_id TEXT NOT NULL,
    expire_time REAL,
    create_time REAL NOT NULL,
    last_used_time REAL,
    token_prefix TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_tokens_by_account ON api_tokens (account_id, create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS api_tokens_by_created ON api_tokens (create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS api_tokens_by_expiry ON api_tokens (expire_time) WHERE expire_time IS NOT NULL;
"""

SERVER_COLUMNS: Final = (
    "id, name, account_id, methods, tags, expire_time, require_api_token_auth, "
    "create_time, update_time, last_used_time, token_prefix, tool_exposure, context_budget_tokens, "
    "audit_payloads, require_oauth, oauth_allowed_emails, oauth_allowed_domains, oauth_allowed_groups"
)
# Columns added after the first release: (name, definition) added to an older file when missing.
SERVER_ADDED_COLUMNS: Final = (
    ("tool_exposure", "TEXT NOT NULL DEFAULT ''"),
    ("context_budget_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("audit_payloads", "INTEGER NOT NULL DEFAULT 0"),
    ("require_oauth", "INTEGER NOT NULL DEFAULT 0"),
    ("oauth_allowed_emails", "TEXT NOT NULL DEFAULT '[]'"),
    ("oauth_allowed_domains", "TEXT NOT NULL DEFAULT '[]'"),
    ("oauth_allowed_groups", "TEXT NOT NULL DEFAULT '[]'"),
)
API_COLUMNS: Final = "id, name, purposes, account_id, expire_time, create_time, last_used_time, token_prefix"
# A live row: no expiry, or an expiry still ahead of the clock.
LIVE: Final = "(expire_time IS NULL OR expire_time > ?)"


def server_from_row(row: sqlite3.Row) -> ServerRecord:
    """A server record from a row selected with SERVER_COLUMNS."""
    return ServerRecord(
        id=row["id"],
        name=row["name"],
        account_id=row["account_id"],
        methods=tuple(json.loads(row["methods"])),
        tags=tuple(json.loads(row["tags"])),
        expire_time=row["expire_time"],
        require_api_token_auth=bool(row["require_api_token_auth"]),
        create_time=row["create_time"],
        update_time=row["update_time"],
        last_used_time=row["last_used_time"],
        token_prefix=row["token_prefix"],
        tool_exposure=row["tool_exposure"],
        context_budget_tokens=row["context_budget_tokens"],
        audit_payloads=bool(row["audit_payloads"]),
        require_oauth=bool(row["require_oauth"]),
        oauth_allowed_emails=tuple(json.loads(row["oauth_allowed_emails"])),
        oauth_allowed_domains=tuple(json.loads(row["oauth_allowed_domains"])),
        oauth_allowed_groups=tuple(json.loads(row["oauth_allowed_groups"])),
    )


def migrate(conn: sqlite3.Connection) -> None:
    """Add the columns an older file lacks (SQLite's ADD COLUMN keeps every row, with the default)."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(servers)")}
    for name, definition in SERVER_ADDED_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE servers ADD COLUMN {name} {definition}")


def api_from_row(row: sqlite3.Row) -> ApiTokenRecord:
    """An API token record from a row selected with API_COLUMNS."""
    return ApiTokenRecord(
        id=row["id"],
        name=row["name"],
        purposes=tuple(json.loads(row["purposes"])),
        account_id=row["account_id"],
        expire_time=row["expire_time"],
        create_time=row["create_time"],
        last_used_time=row["last_used_time"],
        token_prefix=row["token_prefix"],
    )
