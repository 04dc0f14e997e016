"""The SQLite account store: one file (WAL), stdlib sqlite3 run in a worker thread.

Secrets are stored only as Fernet tokens (crypto.py); every other field is plain so operators can
inspect the table.

`get()` is on every call's path, so it reads inline on the event loop through a second connection
with no busy timeout: a primary-key lookup in WAL mode takes a few microseconds and does not wait for
writers, while a worker-thread hop cost about 0.2 ms per call. When SQLite reports busy or locked
(rare in WAL mode: recovery, a checkpoint), that read goes to the worker thread, with its 10 s busy
timeout, as every other operation does. Decoded accounts are memoised by their exact row, so an
unchanged row is not decrypted again; a changed or deleted row never matches a stale entry.

Claims (`claims`) and pending OAuth flows (`oauth_flows`, encrypted) carry an expiry; every flow write
(put and take) deletes the expired ones, and so does opening the store, so a flow abandoned at the
authorization page leaves no PKCE verifier behind for longer than the next flow started or completed
or the next start of the proxy.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from gumloop_mcp.runtime import private_file

from .accounts import (
    NewAccount,
    StoredAccount,
    decode_page_token,
    encode_page_token,
    generate_account_id,
    sort_key,
    stored_from_new,
)
from .crypto import CredentialCipher
from .errors import AlreadyExists, NotFound, StoreUnavailable

__all__ = ["SqliteAccountStore"]

_T = TypeVar("_T")
_MAX_DECODED = 1024
_GET = "SELECT record, secret_enc FROM accounts WHERE id = ?"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    sort_key TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL,
    secret_enc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    name TEXT PRIMARY KEY,
    claim_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_flows (
    key TEXT PRIMARY KEY,
    payload_enc TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""


class SqliteAccountStore:
    """AccountStore on a local SQLite file."""

    def __init__(self, path: Path, cipher: CredentialCipher) -> None:
        self._cipher = cipher
        self._lock = threading.Lock()
        try:
            private_file(path)  # 0600 (and its WAL files), in a 0700 directory
            self._db: sqlite3.Connection | None = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=10
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            _sweep(self._db, time.time())  # what expired while the proxy was down goes at once
            self._reader: sqlite3.Connection | None = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=0
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the account database {path}: {exc}") from exc
        self.path = path
        self._decoded: OrderedDict[tuple[str, str], StoredAccount] = OrderedDict()

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        def locked() -> _T:
            with self._lock:
                if self._db is None:
                    raise StoreUnavailable("the account store is closed")
                try:
                    return work(self._db)
                except sqlite3.IntegrityError:
                    raise
                except sqlite3.Error as exc:
                    raise StoreUnavailable(f"the account database failed: {exc}") from exc

        return await asyncio.to_thread(locked)

    def _load(self, record: str, secret_enc: str) -> StoredAccount:
        data = json.loads(record)
        return StoredAccount.from_record(data, self._cipher.decrypt(str(data["id"]), secret_enc))

    def _load_cached(self, record: str, secret_enc: str) -> StoredAccount:
        key = (record, secret_enc)
        found = self._decoded.get(key)
        if found is None:
            found = self._decoded[key] = self._load(record, secret_enc)
            while len(self._decoded) > _MAX_DECODED:
                self._decoded.popitem(last=False)
        return found

    def _read_inline(self, account_id: str) -> tuple[bool, tuple[str, str] | None]:
        """(answered, row): the row read on the loop's thread, or answered=False when SQLite is busy."""
        if self._reader is None:
            raise StoreUnavailable("the account store is closed")
        try:
            row = self._reader.execute(_GET, (account_id,)).fetchone()
        except sqlite3.OperationalError:
            return False, None  # busy or locked: the worker thread waits for it instead
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the account database failed: {exc}") from exc
        return True, row

    async def create(self, spec: NewAccount) -> StoredAccount:
        """Insert the account; AlreadyExists when its id is taken."""
        account = stored_from_new(spec, spec.id or generate_account_id())
        secret_enc = self._cipher.encrypt(account.id, account.stored_secret())
        row = (account.id, sort_key(account), json.dumps(account.public_record()), secret_enc)
        try:
            await self._run(lambda db: db.execute("INSERT INTO accounts VALUES (?, ?, ?, ?)", row))
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"account {account.id} exists already") from exc
        return account

    async def get(self, account_id: str) -> StoredAccount:
        """The account; NotFound when there is none."""
        answered, found = self._read_inline(account_id)
        if not answered:
            found = await self._run(lambda db: db.execute(_GET, (account_id,)).fetchone())
        if found is None:
            raise NotFound(f"no integrated account {account_id!r}")
        return self._load_cached(found[0], found[1])

    async def list(self, page_size: int, page_token: str) -> tuple[list[StoredAccount], str]:
        """A page ordered by creation time then id, and the next page's token."""
        after = decode_page_token(page_token) if page_token else ""
        size = max(1, page_size)
        rows = await self._run(
            lambda db: db.execute(
                "SELECT sort_key, record, secret_enc FROM accounts WHERE sort_key > ? "
                "ORDER BY sort_key LIMIT ?",
                (after, size + 1),
            ).fetchall()
        )
        page = rows[:size]
        accounts = [self._load(record, secret_enc) for _, record, secret_enc in page]
        token = encode_page_token(page[-1][0]) if len(rows) > size else ""
        return accounts, token

    async def delete(self, account_id: str) -> None:
        """Remove the account; NotFound when there is none."""
        cursor = await self._run(lambda db: db.execute("DELETE FROM accounts WHERE id = ?", (account_id,)))
        if cursor.rowcount == 0:
            raise NotFound(f"no integrated account {account_id!r}")

    async def replace(self, account: StoredAccount) -> None:
        """Write over this account's row (same id and sort key); NotFound when it is gone."""
        secret_enc = self._cipher.encrypt(account.id, account.stored_secret())
        args = (json.dumps(account.public_record()), secret_enc, account.id, sort_key(account))
        cursor = await self._run(
            lambda db: db.execute(
                "UPDATE accounts SET record = ?, secret_enc = ? WHERE id = ? AND sort_key = ?", args
            )
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no integrated account {account.id!r}")

    async def claim(self, name: str, claim_id: str, lease_s: float) -> bool:
        """Take the claim when free or its lease ran out (one statement: atomic across processes)."""
        now = time.time()
        cursor = await self._run(
            lambda db: db.execute(
                "INSERT INTO claims VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "claim_id = excluded.claim_id, expires_at = excluded.expires_at WHERE claims.expires_at <= ?",
                (name, claim_id, now + lease_s, now),
            )
        )
        return bool(cursor.rowcount)

    async def release(self, name: str, claim_id: str) -> None:
        """Drop the claim if `claim_id` holds it."""
        await self._run(
            lambda db: db.execute("DELETE FROM claims WHERE name = ? AND claim_id = ?", (name, claim_id))
        )

    async def put_flow(self, key: str, payload: SecretStr, ttl_s: float) -> None:
        """Store the flow encrypted (bound to its key); expired flows and claims are swept on the way."""
        now = time.time()
        row = (key, self._cipher.encrypt(key, payload), now + ttl_s)

        def put(db: sqlite3.Connection) -> None:
            _sweep(db, now)
            db.execute("INSERT OR REPLACE INTO oauth_flows VALUES (?, ?, ?)", row)

        await self._run(put)

    async def take_flow(self, key: str) -> SecretStr | None:
        """Delete and return the unexpired flow (DELETE ... RETURNING: one taker wins); expired flows and
        claims are swept on the way."""
        now = time.time()

        def take(db: sqlite3.Connection) -> tuple[str, float] | None:
            rows: list[tuple[str, float]] = db.execute(
                "DELETE FROM oauth_flows WHERE key = ? RETURNING payload_enc, expires_at", (key,)
            ).fetchall()
            _sweep(db, now)
            return rows[0] if rows else None

        found = await self._run(take)
        if found is None or found[1] <= now:
            return None
        return self._cipher.decrypt(key, found[0])

    async def close(self) -> None:
        """Close the database (idempotent)."""

        if self._reader is not None:
            self._reader.close()
            self._reader = None

        def shut() -> None:
            with self._lock:
                if self._db is not None:
                    self._db.close()
                    self._db = None

        await asyncio.to_thread(shut)


def _sweep(db: sqlite3.Connection, now: float) -> None:
    """Delete expired flows (their PKCE verifiers with them) and lapsed claims: the rows Redis would
    have let expire (a table scan: there is at most a row per pending flow, a claim per account)."""
    db.execute("DELETE FROM oauth_flows WHERE expires_at <= ?", (now,))
    db.execute("DELETE FROM claims WHERE expires_at <= ?", (now,))
