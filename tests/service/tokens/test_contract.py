"""The token service contract, run against both stores (see `backend` in conftest)."""

from __future__ import annotations

import time

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from gumloop_mcp.runtime import is_well_formed
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, OTHER_ACCOUNT, FakeClock, MakeTokens, ts

P = pb.ApiTokenPurpose


def server_spec(name: str = "reader", **kwargs: object) -> pb.McpServer:
    config = pb.McpServerConfig(methods=["read"], tags=["agents"])
    return pb.McpServer(
        name=name, account_id=kwargs.pop("account_id", KNOWN_ACCOUNT), config=config, **kwargs
    )  # type: ignore[arg-type]


async def test_created_server_is_returned_with_a_well_formed_token_once(make_tokens: MakeTokens) -> None:
    """Create returns the record and a gmcp_ token; Get returns the same record without any token."""
    tokens = await make_tokens()
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec()))
    assert is_well_formed(created.token)
    assert created.token.startswith("gmcp_")
    record = created.mcp_server
    assert record.id.startswith("mcp_")
    assert record.name == "reader"
    assert record.account_id == KNOWN_ACCOUNT
    assert list(record.config.methods) == ["read"]
    assert list(record.config.tags) == ["agents"]
    assert created.token.startswith(record.token_prefix)
    assert not record.HasField("expire_time")
    got = await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=record.id))
    assert got.mcp_server == record


async def test_token_resolves_to_its_record_and_records_last_use(make_tokens: MakeTokens) -> None:
    """ResolveToken returns the record and sets last_used_time."""
    tokens = await make_tokens()
    expire = time.time() + 3600
    created = await tokens.stub.CreateMcpServer(
        pb.CreateMcpServerRequest(mcp_server=server_spec(expire_time=ts(expire), require_api_token_auth=True))
    )
    resolved = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert resolved.mcp_server.id == created.mcp_server.id
    assert resolved.mcp_server.require_api_token_auth is True
    assert resolved.mcp_server.HasField("last_used_time")
    assert abs(resolved.token_expire_time.ToNanoseconds() / 1e9 - expire) < 0.001
    got = await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=created.mcp_server.id))
    assert got.mcp_server.last_used_time == resolved.mcp_server.last_used_time


async def test_last_used_time_moves_at_most_once_per_resolution_window(make_tokens: MakeTokens) -> None:
    """Resolves within last_used_resolution_s leave last_used_time alone; later ones move it."""
    clock = FakeClock()
    tokens = await make_tokens(clock=clock, last_used_resolution_s=60)
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec()))
    first = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    clock.advance(30)
    second = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert second.mcp_server.last_used_time == first.mcp_server.last_used_time
    clock.advance(31)
    third = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert third.mcp_server.last_used_time.ToNanoseconds() > first.mcp_server.last_used_time.ToNanoseconds()


async def test_unknown_and_mistyped_tokens_do_not_resolve(make_tokens: MakeTokens) -> None:
    """A token with a broken checksum, a foreign shape or no record gives NOT_FOUND."""
    tokens = await make_tokens()
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec()))
    typo = created.token[:-1] + ("a" if created.token[-1] != "a" else "b")
    api = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(api_token=pb.ApiToken(name="a", purposes=[P.API_TOKEN_PURPOSE_MCP_CLIENT]))
    )
    for candidate in (typo, "", "gmcp_short", api.token, "x" * 5000):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=candidate))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_listing_pages_newest_first_without_gaps_or_repeats(make_tokens: MakeTokens) -> None:
    """Seven records list as pages of three (3, 3, 1), newest first, only for the asked account."""
    clock = FakeClock()
    tokens = await make_tokens(clock=clock)
    ids = []
    for i in range(7):
        created = await tokens.stub.CreateMcpServer(
            pb.CreateMcpServerRequest(mcp_server=server_spec(f"s{i}"))
        )
        ids.append(created.mcp_server.id)
        if i % 2:
            clock.advance(1)  # some records share a create_time: ties must page correctly too
    await tokens.stub.CreateMcpServer(
        pb.CreateMcpServerRequest(mcp_server=server_spec(account_id=OTHER_ACCOUNT))
    )
    seen: list[str] = []
    sizes = []
    page_token = ""
    while True:
        page = await tokens.stub.ListMcpServers(
            pb.ListMcpServersRequest(account_id=KNOWN_ACCOUNT, page_size=3, page_token=page_token)
        )
        sizes.append(len(page.mcp_servers))
        seen += [s.id for s in page.mcp_servers]
        page_token = page.next_page_token
        if not page_token:
            break
    assert sizes == [3, 3, 1]
    assert sorted(seen) == sorted(ids)
    assert len(set(seen)) == 7
    listed = await tokens.stub.ListMcpServers(pb.ListMcpServersRequest(account_id=KNOWN_ACCOUNT))
    names = [int(s.name[1:]) for s in listed.mcp_servers]
    # Created at t0: s0 s1, t1: s2 s3, t2: s4 s5, t3: s6; newest first, any order within a tie.
    assert names[0] == 6
    assert [set(names[1:3]), set(names[3:5]), set(names[5:7])] == [{4, 5}, {2, 3}, {0, 1}]


async def test_update_changes_only_the_fields_in_the_mask(make_tokens: MakeTokens) -> None:
    """Name and second factor change; config and expiry stay as they were; an UPDATED event follows."""
    tokens = await make_tokens()
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec()))
    change = pb.McpServer(
        id=created.mcp_server.id,
        name="renamed",
        require_api_token_auth=True,
        config=pb.McpServerConfig(methods=["write"]),
    )
    updated = await tokens.stub.UpdateMcpServer(
        pb.UpdateMcpServerRequest(
            mcp_server=change, update_mask=field_mask_pb2.FieldMask(paths=["name", "require_api_token_auth"])
        )
    )
    assert updated.mcp_server.name == "renamed"
    assert updated.mcp_server.require_api_token_auth is True
    assert list(updated.mcp_server.config.methods) == ["read"]
    assert updated.mcp_server.create_time == created.mcp_server.create_time


async def test_update_of_config_and_expiry_is_validated_and_applied(make_tokens: MakeTokens) -> None:
    """A new scope and expiry take effect; clearing expire_time makes the record permanent."""
    tokens = await make_tokens()
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec()))
    expire = time.time() + 7200
    updated = await tokens.stub.UpdateMcpServer(
        pb.UpdateMcpServerRequest(
            mcp_server=pb.McpServer(
                id=created.mcp_server.id,
                config=pb.McpServerConfig(methods=["custom", "get_agent"], tags=[]),
                expire_time=ts(expire),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["config", "expire_time"]),
        )
    )
    assert list(updated.mcp_server.config.methods) == ["custom", "get_agent"]
    assert list(updated.mcp_server.config.tags) == []
    assert abs(updated.mcp_server.expire_time.ToNanoseconds() / 1e9 - expire) < 0.001
    cleared = await tokens.stub.UpdateMcpServer(
        pb.UpdateMcpServerRequest(
            mcp_server=pb.McpServer(id=created.mcp_server.id),
            update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]),
        )
    )
    assert not cleared.mcp_server.HasField("expire_time")
    resolved = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert not resolved.HasField("token_expire_time")


async def test_deleted_server_is_gone_with_its_token(make_tokens: MakeTokens) -> None:
    """After Delete, Get, Resolve and a second Delete all give NOT_FOUND."""
    tokens = await make_tokens()
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec()))
    await tokens.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=created.mcp_server.id))
    calls = [
        tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=created.mcp_server.id)),
        tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token)),
        tokens.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=created.mcp_server.id)),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await tokens.stub.ListMcpServers(pb.ListMcpServersRequest(account_id=KNOWN_ACCOUNT))
    assert list(listed.mcp_servers) == []


async def test_rotated_token_keeps_the_old_one_alive_for_the_grace_only(make_tokens: MakeTokens) -> None:
    """During the grace both tokens resolve; after it only the new one does."""
    clock = FakeClock()
    tokens = await make_tokens(clock=clock)
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec()))
    rotated = await tokens.stub.RotateMcpServerToken(
        pb.RotateMcpServerTokenRequest(
            id=created.mcp_server.id, grace_period=duration_pb2.Duration(seconds=300)
        )
    )
    assert rotated.token != created.token
    assert rotated.token.startswith(rotated.mcp_server.token_prefix)
    assert rotated.old_token_expire_time.ToNanoseconds() / 1e9 == pytest.approx(clock() + 300)
    old = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert old.token_expire_time.ToNanoseconds() / 1e9 == pytest.approx(clock() + 300)
    new = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=rotated.token))
    assert new.mcp_server.id == created.mcp_server.id
    clock.advance(301)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    await tokens.service.store.sweep()
    assert (await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=rotated.token))).mcp_server.id


async def test_rotation_without_grace_revokes_the_old_token_at_once(make_tokens: MakeTokens) -> None:
    """With no grace period the old token stops resolving immediately."""
    tokens = await make_tokens()
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec()))
    rotated = await tokens.stub.RotateMcpServerToken(pb.RotateMcpServerTokenRequest(id=created.mcp_server.id))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=rotated.token))).mcp_server.id


async def test_api_tokens_are_created_listed_verified_and_revoked(make_tokens: MakeTokens) -> None:
    """An API token verifies for its purpose and account, lists without secrets, and dies on revoke."""
    tokens = await make_tokens()
    created = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(
            api_token=pb.ApiToken(
                name="ci", purposes=[P.API_TOKEN_PURPOSE_MANAGEMENT], account_id=KNOWN_ACCOUNT
            )
        )
    )
    assert is_well_formed(created.token) and created.token.startswith("gmcpat_")
    unbound = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(api_token=pb.ApiToken(name="any", purposes=[P.API_TOKEN_PURPOSE_MCP_CLIENT]))
    )
    verified = await tokens.stub.VerifyApiToken(
        pb.VerifyApiTokenRequest(
            token=created.token, purpose=P.API_TOKEN_PURPOSE_MANAGEMENT, account_id=KNOWN_ACCOUNT
        )
    )
    assert verified.api_token.id == created.api_token.id
    assert verified.api_token.HasField("last_used_time")
    assert (
        await tokens.stub.VerifyApiToken(
            pb.VerifyApiTokenRequest(
                token=unbound.token, purpose=P.API_TOKEN_PURPOSE_MCP_CLIENT, account_id=OTHER_ACCOUNT
            )
        )
    ).api_token.id == unbound.api_token.id
    for request, code in [
        (
            pb.VerifyApiTokenRequest(token=created.token, purpose=P.API_TOKEN_PURPOSE_MCP_CLIENT),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (
            pb.VerifyApiTokenRequest(
                token=created.token, purpose=P.API_TOKEN_PURPOSE_MANAGEMENT, account_id=OTHER_ACCOUNT
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (pb.VerifyApiTokenRequest(token=created.token), grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await tokens.stub.VerifyApiToken(request)
        assert err.value.code() == code
    listed = await tokens.stub.ListApiTokens(pb.ListApiTokensRequest())
    assert {t.id for t in listed.api_tokens} == {unbound.api_token.id, created.api_token.id}
    scoped = await tokens.stub.ListApiTokens(pb.ListApiTokensRequest(account_id=KNOWN_ACCOUNT))
    assert [t.id for t in scoped.api_tokens] == [created.api_token.id]
    assert created.token not in str(listed)
    await tokens.stub.RevokeApiToken(pb.RevokeApiTokenRequest(id=created.api_token.id))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens.stub.VerifyApiToken(
            pb.VerifyApiTokenRequest(token=created.token, purpose=P.API_TOKEN_PURPOSE_MANAGEMENT)
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens.stub.RevokeApiToken(pb.RevokeApiTokenRequest(id=created.api_token.id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_api_token_listing_pages(make_tokens: MakeTokens) -> None:
    """Five API tokens list as pages of two (2, 2, 1) with no repeats."""
    tokens = await make_tokens()
    for i in range(5):
        await tokens.stub.CreateApiToken(
            pb.CreateApiTokenRequest(
                api_token=pb.ApiToken(name=f"t{i}", purposes=[P.API_TOKEN_PURPOSE_MCP_CLIENT])
            )
        )
    seen: list[str] = []
    sizes = []
    page_token = ""
    while True:
        page = await tokens.stub.ListApiTokens(pb.ListApiTokensRequest(page_size=2, page_token=page_token))
        sizes.append(len(page.api_tokens))
        seen += [t.name for t in page.api_tokens]
        page_token = page.next_page_token
        if not page_token:
            break
    assert sizes == [2, 2, 1]
    assert sorted(seen) == [f"t{i}" for i in range(5)]


async def test_catalog_is_fetched_once_for_many_creates(
    make_tokens: MakeTokens, fake_proxy: tuple[object, str]
) -> None:
    """Scope validation reuses the proxy's catalog within catalog_cache_s instead of asking every time."""
    tokens = await make_tokens(catalog_cache_s=60)
    for i in range(3):
        await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server_spec(f"c{i}")))
    assert fake_proxy[0].list_operations_calls == 1  # type: ignore[attr-defined]


async def test_scope_entries_are_trimmed_and_stored_once(make_tokens: MakeTokens) -> None:
    """Repeated or padded methods and tags are stored once, trimmed, in first-seen order."""
    tokens = await make_tokens()
    spec = pb.McpServer(
        name="  padded  ",
        account_id=KNOWN_ACCOUNT,
        config=pb.McpServerConfig(methods=[" read", "get_agent", "read "], tags=["agents", " agents"]),
    )
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    assert created.mcp_server.name == "padded"
    assert list(created.mcp_server.config.methods) == ["read", "get_agent"]
    assert list(created.mcp_server.config.tags) == ["agents"]
