"""SQLite account reads on the event loop: a locked database still answers, and no stale account is served."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.gumloop_proxy import errors
from services.gumloop_proxy.account_store_sqlite import SqliteAccountStore
from services.gumloop_proxy.accounts import NewAccount
from services.gumloop_proxy.crypto import CredentialCipher


def _spec(account_id: str, secret: str = "gk_live_SECRET_0123456789") -> NewAccount:
    return NewAccount(
        id=account_id,
        display_name="Main",
        credential_kind="api_key",
        secret=SecretStr(secret),
        user_id="user_1",
        team_id="",
        project_id="",
        api_base_url="http://127.0.0.1:1/api/v1",
        stream_base_url="http://127.0.0.1:1/api/v1",
        max_concurrency=4,
    )


class _BusyReader:
    """Stands in for the inline read connection when SQLite reports the database locked."""

    def __init__(self) -> None:
        self.tries = 0

    def execute(self, *_: object) -> sqlite3.Cursor:
        self.tries += 1
        raise sqlite3.OperationalError("database is locked")

    def close(self) -> None:
        pass


async def test_a_get_that_finds_the_database_locked_is_answered_by_the_worker_thread(tmp_path: Path):
    """A busy or locked inline read is not an error: the read is retried where SQLite may wait."""
    store = SqliteAccountStore(tmp_path / "proxy.sqlite3", CredentialCipher([Fernet.generate_key()]))
    try:
        await store.create(_spec("acc_locked"))
        busy = _BusyReader()
        store._reader = busy  # type: ignore[assignment]
        account = await asyncio.wait_for(store.get("acc_locked"), 10)
        assert busy.tries == 1
        assert account.id == "acc_locked"
        assert account.secret.get_secret_value() == "gk_live_SECRET_0123456789"
        with pytest.raises(errors.NotFound):
            await store.get("acc_missing")
    finally:
        await store.close()


async def test_an_account_deleted_through_another_connection_is_not_served_from_memory(tmp_path: Path):
    """Decoded accounts are memoised by row: a deletion or a new secret written elsewhere shows at once."""
    path = tmp_path / "proxy.sqlite3"
    cipher = CredentialCipher([Fernet.generate_key()])
    writer = SqliteAccountStore(path, cipher)
    reader = SqliteAccountStore(path, cipher)
    try:
        await writer.create(_spec("acc_shared", secret="gk_live_FIRST_0123456789"))
        assert (await reader.get("acc_shared")).secret.get_secret_value() == "gk_live_FIRST_0123456789"
        await writer.delete("acc_shared")
        with pytest.raises(errors.NotFound):
            await reader.get("acc_shared")
        await writer.create(_spec("acc_shared", secret="gk_live_SECOND_0123456789"))
        assert (await reader.get("acc_shared")).secret.get_secret_value() == "gk_live_SECOND_0123456789"
    finally:
        await writer.close()
        await reader.close()


async def test_a_closed_store_refuses_reads(tmp_path: Path):
    """After close(), get() says the store is unavailable instead of touching a closed connection."""
    store = SqliteAccountStore(tmp_path / "proxy.sqlite3", CredentialCipher([Fernet.generate_key()]))
    await store.create(_spec("acc_closed"))
    await store.close()
    with pytest.raises(errors.StoreUnavailable):
        await store.get("acc_closed")
