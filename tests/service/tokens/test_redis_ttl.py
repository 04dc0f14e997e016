"""Redis hard deletion: every key of a record carries the TTL of its expiry (or of a grace end), and
keeps carrying the right one through rotations and updates, so Redis deletes it even with no replica
running. Key names: see the layout in services/tokens/store_redis.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from google.protobuf import duration_pb2, field_mask_pb2

from gumloop_mcp.runtime import hash_token
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, PEPPER, FakeClock, MakeTokens, Tokens, ts

P = "gmcp:tokens:"
NO_TTL = -1


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """TTLs are Redis's own mechanism: only the Redis store is under test here."""
    return str(request.param)


@pytest.fixture
async def client(clean_redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A direct client to the store's Redis, to read TTLs."""
    connection = redis.asyncio.Redis.from_url(clean_redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


def millis(seconds: float) -> int:
    return int(seconds * 1000)


def token_key(token: str) -> str:
    return f"{P}tok:{hash_token(token, PEPPER.encode())}"


async def expiry_of(client: redis.asyncio.Redis, *keys: str) -> list[int]:
    """Each key's absolute expiry in epoch ms (PEXPIRETIME), NO_TTL for none; the key must exist
    and its PTTL agree (positive with a TTL, -1 without)."""
    out = []
    for key in keys:
        at, left = await client.pexpiretime(key), await client.pttl(key)
        assert at != -2 and left != -2, f"{key} does not exist"
        assert (left > 0) if at != NO_TTL else (left == NO_TTL), (key, at, left)
        out.append(at)
    return out


async def update(tokens: Tokens, server_id: str, paths: list[str], **fields: object) -> pb.McpServer:
    request = pb.UpdateMcpServerRequest(
        mcp_server=pb.McpServer(id=server_id, **fields),  # type: ignore[arg-type]
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )
    return (await tokens.stub.UpdateMcpServer(request)).mcp_server


async def test_record_keys_follow_create_rotate_and_updates(
    make_tokens: MakeTokens, client: redis.asyncio.Redis
) -> None:
    """create(E): record, token set and token at E; rotate with grace: the old token at its grace end;
    extend: all but the grace token move; rename: nothing moves; clear: no TTL but the grace token's;
    shorten below the grace end: every key at the new expiry. Indices never expire."""
    clock = FakeClock()
    clock.now = float(int(time.time()))
    tokens = await make_tokens(clock=clock)
    first_expiry = clock.now + 3600
    created = await tokens.stub.CreateMcpServer(
        pb.CreateMcpServerRequest(
            mcp_server=pb.McpServer(
                name="ttl",
                account_id=KNOWN_ACCOUNT,
                config=pb.McpServerConfig(methods=["read"]),
                expire_time=ts(first_expiry),
            )
        )
    )
    server_id = created.mcp_server.id
    srv, srvtoks, old_tok = f"{P}srv:{server_id}", f"{P}srvtoks:{server_id}", token_key(created.token)
    assert await expiry_of(client, srv, srvtoks, old_tok) == [millis(first_expiry)] * 3
    assert await expiry_of(client, f"{P}acct:{KNOWN_ACCOUNT}", f"{P}exp") == [NO_TTL, NO_TTL]

    rotated = await tokens.stub.RotateMcpServerToken(
        pb.RotateMcpServerTokenRequest(id=server_id, grace_period=duration_pb2.Duration(seconds=600))
    )
    grace_end = clock.now + 600
    new_tok = token_key(rotated.token)
    assert await expiry_of(client, srv, srvtoks, new_tok, old_tok) == [millis(first_expiry)] * 3 + [
        millis(grace_end)
    ]

    extended = clock.now + 7200
    await update(tokens, server_id, ["expire_time"], expire_time=ts(extended))
    assert await expiry_of(client, srv, srvtoks, new_tok, old_tok) == [millis(extended)] * 3 + [
        millis(grace_end)
    ]
    assert await client.zscore(f"{P}exp", f'["srv", "{server_id}", "{KNOWN_ACCOUNT}"]') == extended

    await update(
        tokens, server_id, ["name", "require_api_token_auth"], name="renamed", require_api_token_auth=True
    )
    assert await expiry_of(client, srv, srvtoks, new_tok, old_tok) == [millis(extended)] * 3 + [
        millis(grace_end)
    ]

    await update(tokens, server_id, ["expire_time"])  # expire_time left unset: never expires
    assert await expiry_of(client, srv, srvtoks, new_tok, old_tok) == [NO_TTL] * 3 + [millis(grace_end)]
    assert await client.zscore(f"{P}exp", f'["srv", "{server_id}", "{KNOWN_ACCOUNT}"]') is None

    shortened = clock.now + 300  # before the grace end: the old token must not outlive the record
    await update(tokens, server_id, ["expire_time"], expire_time=ts(shortened))
    assert await expiry_of(client, srv, srvtoks, new_tok, old_tok) == [millis(shortened)] * 4


async def test_api_token_keys_expire_with_the_token(
    make_tokens: MakeTokens, client: redis.asyncio.Redis
) -> None:
    """An API token's record and hash key carry its expiry; one without expiry has no TTL; the
    listing indices never expire."""
    clock = FakeClock()
    clock.now = float(int(time.time()))
    tokens = await make_tokens(clock=clock)
    expiry = clock.now + 3600
    purposes = [pb.ApiTokenPurpose.API_TOKEN_PURPOSE_MCP_CLIENT]
    timed = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(
            api_token=pb.ApiToken(
                name="t", purposes=purposes, account_id=KNOWN_ACCOUNT, expire_time=ts(expiry)
            )
        )
    )
    forever = await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(api_token=pb.ApiToken(name="f", purposes=purposes))
    )
    timed_keys = (f"{P}api:{timed.api_token.id}", f"{P}apitok:{hash_token(timed.token, PEPPER.encode())}")
    forever_keys = (
        f"{P}api:{forever.api_token.id}",
        f"{P}apitok:{hash_token(forever.token, PEPPER.encode())}",
    )
    assert await expiry_of(client, *timed_keys) == [millis(expiry)] * 2
    assert await expiry_of(client, *forever_keys) == [NO_TTL] * 2
    assert await expiry_of(client, f"{P}apis", f"{P}apiacct:{KNOWN_ACCOUNT}") == [NO_TTL] * 2
