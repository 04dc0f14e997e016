"""Account store contract, run against SQLite and a real Redis: CRUD, paging, secrets at rest, outages."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
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


# -- claims and pending OAuth flows, shared by replicas ----------------------------------------


@pytest.fixture
async def replicas(store_settings: ProxySettings) -> AsyncIterator[tuple[AccountStore, AccountStore]]:
    """Two stores ("replicas") of the parametrized kind on one SQLite file or one Redis."""
    one, two = open_account_store(store_settings), open_account_store(store_settings)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def _live_flow_keys(settings: ProxySettings) -> set[str]:
    """The flow keys the backend still holds (expired or not): the SQLite table, or Redis's keys."""
    if settings.store == "sqlite":
        with sqlite3.connect(settings.data_dir / "proxy.sqlite3") as db:
            return {k for (k,) in db.execute("SELECT key FROM oauth_flows")}
    assert settings.redis_url is not None
    client = aioredis.from_url(settings.redis_url.get_secret_value())
    try:
        prefix = settings.redis_key_prefix + "oauth_flow:"
        return {k.decode().removeprefix(prefix) async for k in client.scan_iter(prefix + "*")}
    finally:
        await client.aclose()


async def _raw_dump(settings: ProxySettings) -> bytes:
    """Everything the backend holds, as bytes (SQLite file and WAL, or every Redis string value)."""
    if settings.store == "sqlite":
        return b"".join(p.read_bytes() for p in settings.data_dir.glob("proxy.sqlite3*"))
    assert settings.redis_url is not None
    client = aioredis.from_url(settings.redis_url.get_secret_value())
    try:
        return b"".join([k + (await client.get(k) or b"") async for k in client.scan_iter("*")])
    finally:
        await client.aclose()


async def test_one_claim_holder_across_replicas_and_release_frees_only_its_own(
    replicas: tuple[AccountStore, AccountStore],
):
    """20 racing claims on two replicas: one wins. A release by anyone else leaves the claim held."""
    one, two = replicas
    won = await asyncio.gather(
        *((one if i % 2 else two).claim("oauth-refresh:acc_1", f"c{i}", 30) for i in range(20))
    )
    assert won.count(True) == 1
    holder = f"c{won.index(True)}"
    await one.release("oauth-refresh:acc_1", "not-the-holder")
    await two.release("oauth-refresh:acc_1", "c99")
    assert not await two.claim("oauth-refresh:acc_1", "late", 30)
    assert await one.claim("oauth-refresh:acc_2", "other", 30)  # claims are per name
    await (two if won.index(True) % 2 == 0 else one).release("oauth-refresh:acc_1", holder)
    assert await two.claim("oauth-refresh:acc_1", "next", 30)


async def test_a_lapsed_claim_is_taken_over_and_the_old_holder_cannot_release_it(
    replicas: tuple[AccountStore, AccountStore],
):
    """After its lease the claim goes to another; the first holder's late release (compare-and-delete)
    must not free the new holder's claim."""
    one, two = replicas
    assert await one.claim("oauth-refresh:acc_1", "first", 0.05)
    deadline = asyncio.get_running_loop().time() + 5
    while not await two.claim("oauth-refresh:acc_1", "second", 30):
        assert asyncio.get_running_loop().time() < deadline, "the lapsed claim was never free"
        await asyncio.sleep(0.02)
    await one.release("oauth-refresh:acc_1", "first")
    assert not await one.claim("oauth-refresh:acc_1", "third", 30)
    await two.release("oauth-refresh:acc_1", "second")
    assert await one.claim("oauth-refresh:acc_1", "third", 30)


async def test_a_flow_is_taken_once_across_replicas_and_stored_encrypted(
    replicas: tuple[AccountStore, AccountStore], store_settings: ProxySettings
):
    """Ten racing takes of one flow on two replicas: exactly one gets it; its payload is not in clear."""
    one, two = replicas
    payload = '{"code_verifier": "VERIFIER_0123456789_SECRET"}'
    await one.put_flow("k" * 64, SecretStr(payload), 60)
    assert b"VERIFIER_0123456789_SECRET" not in await _raw_dump(store_settings)
    taken = await asyncio.gather(*((one if i % 2 else two).take_flow("k" * 64) for i in range(10)))
    got = [t.get_secret_value() for t in taken if t is not None]
    assert got == [payload]
    assert await one.take_flow("k" * 64) is None and await two.take_flow("unknown") is None


async def test_a_sqlite_store_sweeps_expired_flows_when_it_opens(tmp_path: Path) -> None:
    """A flow abandoned before the proxy stopped is gone once it starts again, with no flow written."""
    key = SecretStr(Fernet.generate_key().decode())
    settings = ProxySettings(data_dir=tmp_path, store="sqlite", encryption_key=key)
    store = open_account_store(settings)
    await store.put_flow("abandoned", SecretStr("verifier"), 0.05)
    await store.put_flow("pending", SecretStr("verifier"), 60)
    await store.close()
    await asyncio.sleep(0.1)
    reopened = open_account_store(settings)
    try:
        assert await _live_flow_keys(settings) == {"pending"}
    finally:
        await reopened.close()


async def test_expired_flows_are_swept(
    replicas: tuple[AccountStore, AccountStore], store_settings: ProxySettings
):
    """An expired flow cannot be taken, and the backend drops it: Redis by its PX expiry, SQLite when
    the next flow is put or taken (no verifier lingers after its flow's TTL)."""
    one, two = replicas
    await one.put_flow("expiring", SecretStr("a"), 0.05)
    await one.put_flow("kept", SecretStr("b"), 60)
    assert await _live_flow_keys(store_settings) == {"expiring", "kept"}
    await asyncio.sleep(0.1)
    assert await two.take_flow("expiring") is None
    await one.put_flow("other", SecretStr("c"), 60)
    await one.put_flow("expiring2", SecretStr("d"), 0.05)
    await asyncio.sleep(0.1)
    taken = await two.take_flow("kept")  # a take sweeps too
    assert taken is not None and taken.get_secret_value() == "b"
    assert await _live_flow_keys(store_settings) == {"other"}
    if store_settings.store == "redis":
        assert store_settings.redis_url is not None
        client = aioredis.from_url(store_settings.redis_url.get_secret_value())
        try:
            ttl_ms = await client.pttl(store_settings.redis_key_prefix + "oauth_flow:other")
        finally:
            await client.aclose()
        assert 0 < ttl_ms <= 60_000
