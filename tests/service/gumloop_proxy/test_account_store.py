"""Account store contract, run against SQLite and a real Redis: CRUD, paging, secrets at rest, outages."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from pydantic import SecretStr

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy import errors
from services.gumloop_proxy.accounts import AccountStore, NewAccount
from services.gumloop_proxy.server import open_account_store
from services.gumloop_proxy.settings import ProxySettings

SECRET = "gk_live_VERY_SECRET_0123456789"


def _spec(name: str = "Main", account_id: str = "", secret: str = SECRET) -> NewAccount:
    return NewAccount(
        id=account_id,
        display_name=name,
        credential_kind="api_key",
        secret=SecretStr(secret),
        user_id="user_1",
        team_id="team_1",
        project_id="",
        api_base_url="http://127.0.0.1:1/api/v1",
        stream_base_url="http://127.0.0.1:1/api/v1",
        max_concurrency=4,
    )


@pytest.fixture(params=["sqlite", "redis"])
def store_settings(request, tmp_path: Path) -> ProxySettings:
    """Settings for each store kind (Redis from the shared real-server fixture)."""
    key = SecretStr(Fernet.generate_key().decode())
    if request.param == "redis":
        url = request.getfixturevalue("clean_redis_url")
        return ProxySettings(data_dir=tmp_path, store="redis", redis_url=SecretStr(url), encryption_key=key)
    return ProxySettings(data_dir=tmp_path, store="sqlite", encryption_key=key)


@pytest.fixture
async def store(store_settings: ProxySettings) -> AsyncIterator[AccountStore]:
    """An open store of the parametrized kind."""
    opened = open_account_store(store_settings)
    try:
        yield opened
    finally:
        await opened.close()


async def test_create_get_delete_round_trip(store: AccountStore):
    """A created account reads back with its secret and is gone after delete."""
    created = await store.create(_spec())
    assert created.id.startswith("acc_") and len(created.id) == 26
    loaded = await store.get(created.id)
    assert loaded.secret.get_secret_value() == SECRET
    assert loaded.to_proto() == created.to_proto()
    assert loaded.credential.kind == pb.CREDENTIAL_KIND_API_KEY
    await store.delete(created.id)
    with pytest.raises(errors.NotFound):
        await store.get(created.id)
    with pytest.raises(errors.NotFound):
        await store.delete(created.id)


async def test_caller_chosen_id_is_kept_and_duplicates_are_refused(store: AccountStore):
    """A given id is used; a second create with it is AlreadyExists."""
    await store.create(_spec(account_id="acct-main"))
    assert (await store.get("acct-main")).display_name == "Main"
    with pytest.raises(errors.AlreadyExists):
        await store.create(_spec(name="Other", account_id="acct-main"))
    assert (await store.get("acct-main")).display_name == "Main"


async def test_listing_pages_in_stable_creation_order(store: AccountStore):
    """Pages follow creation order, with opaque tokens, and end with an empty token."""
    ids = [(await store.create(_spec(name=f"a{i}"))).id for i in range(7)]
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page, token = await store.list(3, token)
        assert len(page) <= 3
        seen.extend(a.id for a in page)
        if not token:
            break
    assert seen == ids
    await store.delete(ids[0])
    first, _ = await store.list(100, "")
    assert [a.id for a in first] == ids[1:]
    with pytest.raises(errors.InvalidArguments):
        await store.list(3, "not-a-token")


async def test_concurrent_creates_all_land(store: AccountStore):
    """Parallel creates neither lose nor duplicate accounts."""
    created = await asyncio.gather(*(store.create(_spec(name=f"c{i}")) for i in range(20)))
    listed, token = await store.list(100, "")
    assert token == "" and sorted(a.id for a in listed) == sorted(a.id for a in created)


async def test_secret_is_not_in_the_sqlite_file(tmp_path: Path):
    """The SQLite file (and its WAL) never contain the plaintext secret."""
    settings = ProxySettings(
        data_dir=tmp_path, store="sqlite", encryption_key=SecretStr(Fernet.generate_key().decode())
    )
    store = open_account_store(settings)
    try:
        created = await store.create(_spec())
        assert (await store.get(created.id)).secret.get_secret_value() == SECRET
        blob = b"".join(p.read_bytes() for p in tmp_path.glob("proxy.sqlite3*"))
        assert b"user_1" in blob  # the file really holds the record
        assert SECRET.encode() not in blob
    finally:
        await store.close()


@pytest.mark.redis
async def test_secret_is_not_in_any_redis_key_or_value(clean_redis_url: str, tmp_path: Path):
    """No Redis key or value holds the plaintext secret; keys live under the prefix."""
    settings = ProxySettings(
        data_dir=tmp_path,
        store="redis",
        redis_url=SecretStr(clean_redis_url),
        redis_key_prefix="t:proxy:",
        encryption_key=SecretStr(Fernet.generate_key().decode()),
    )
    store = open_account_store(settings)
    client = aioredis.from_url(clean_redis_url)
    try:
        created = await store.create(_spec())
        keys = [k async for k in client.scan_iter("*")]
        assert keys and all(k.startswith(b"t:proxy:") for k in keys)
        dump = b""
        for key in keys:
            kind = await client.type(key)
            if kind == b"string":
                dump += key + (await client.get(key) or b"")
            elif kind == b"zset":
                dump += key + b"".join(await client.zrange(key, 0, -1))
            else:
                pytest.fail(f"unexpected key type {kind!r}")
        assert created.id.encode() in dump and SECRET.encode() not in dump
    finally:
        await client.aclose()
        await store.close()


async def test_redis_down_is_store_unavailable(tmp_path: Path):
    """A Redis that refuses connections gives StoreUnavailable, without the URL's password."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ProxySettings(
        data_dir=tmp_path,
        store="redis",
        redis_url=SecretStr(f"redis://:hunter2@127.0.0.1:{port}/0"),
        encryption_key=SecretStr(Fernet.generate_key().decode()),
    )
    store = open_account_store(settings)
    try:
        for call in (store.get("acc_x"), store.create(_spec()), store.list(10, ""), store.delete("acc_x")):
            with pytest.raises(errors.StoreUnavailable) as caught:
                await call
            assert "hunter2" not in str(caught.value)
    finally:
        await store.close()


async def test_accounts_survive_reopening_and_a_wrong_key_is_reported(tmp_path: Path):
    """A reopened SQLite store reads its accounts; a different key gives a clear StoreUnavailable."""
    key = SecretStr(Fernet.generate_key().decode())
    settings = ProxySettings(data_dir=tmp_path, store="sqlite", encryption_key=key)
    first = open_account_store(settings)
    created = await first.create(_spec())
    await first.close()
    with pytest.raises(errors.StoreUnavailable):
        await first.get(created.id)
    again = open_account_store(settings)
    assert (await again.get(created.id)).secret.get_secret_value() == SECRET
    await again.close()
    other = ProxySettings(
        data_dir=tmp_path, store="sqlite", encryption_key=SecretStr(Fernet.generate_key().decode())
    )
    wrong = open_account_store(other)
    try:
        with pytest.raises(errors.StoreUnavailable, match="cannot be decrypted"):
            await wrong.get(created.id)
    finally:
        await wrong.close()
