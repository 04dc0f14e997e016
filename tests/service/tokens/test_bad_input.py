"""Every bad input gets INVALID_ARGUMENT or NOT_FOUND naming the field, never a crash."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from gumloop_mcp.runtime import field_violations
from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens, Tokens, ts

P = pb.ApiTokenPurpose


def server(**fields: Any) -> pb.McpServer:
    values: dict[str, Any] = {
        "name": "ok",
        "account_id": KNOWN_ACCOUNT,
        "config": pb.McpServerConfig(methods=["read"], tags=["agents"]),
    }
    values.update(fields)
    return pb.McpServer(**values)


async def rejected(call: Any) -> tuple[grpc.StatusCode, list[str]]:
    """The status code and violated fields of a failing call."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), [field for field, _ in field_violations(err.value)]


INVALID = grpc.StatusCode.INVALID_ARGUMENT

CREATE_CASES = {
    "empty name": (server(name=""), ["mcp_server.name"]),
    "blank name": (server(name="   "), ["mcp_server.name"]),
    "over-long name": (server(name="n" * 129), ["mcp_server.name"]),
    "control characters in name": (server(name="a\nb"), ["mcp_server.name"]),
    "missing account": (server(account_id=""), ["mcp_server.account_id"]),
    "past expiry": (server(expire_time=ts(time.time() - 10)), ["mcp_server.expire_time"]),
    "expiry too soon": (server(expire_time=ts(time.time() + 30)), ["mcp_server.expire_time"]),
    "malformed expiry": (
        server(expire_time=timestamp_pb2.Timestamp(seconds=int(time.time()) + 3600, nanos=-5)),
        ["mcp_server.expire_time"],
    ),
    "expiry beyond year 9999": (
        server(expire_time=timestamp_pb2.Timestamp(seconds=10**12)),
        ["mcp_server.expire_time"],
    ),
    "unknown method": (
        server(config=pb.McpServerConfig(methods=["read", "read", "frobnicate", "list_agents"])),
        ["mcp_server.config.methods", "mcp_server.config.methods[2]"],
    ),
    "blank method": (server(config=pb.McpServerConfig(methods=[""])), ["mcp_server.config.methods[0]"]),
    "unknown tag": (
        server(config=pb.McpServerConfig(tags=["agents", "nope"])),
        ["mcp_server.config.tags", "mcp_server.config.tags[1]"],
    ),
    "scope matching no operation": (
        server(config=pb.McpServerConfig(methods=["custom"], tags=["agents"])),
        ["mcp_server.config"],
    ),
    "several problems at once": (
        server(name="", expire_time=ts(time.time() - 1)),
        ["mcp_server.name", "mcp_server.expire_time"],
    ),
}


@pytest.mark.parametrize("case", list(CREATE_CASES))
async def test_create_rejects_bad_input_naming_the_field(make_tokens: MakeTokens, case: str) -> None:
    """Each malformed CreateMcpServer is INVALID_ARGUMENT with a violation on exactly the bad fields."""
    tokens = await make_tokens()
    spec, fields = CREATE_CASES[case]
    code, violated = await rejected(tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec)))
    assert code == INVALID
    assert sorted(violated) == sorted(fields)


async def test_create_for_an_unknown_account_is_not_found(make_tokens: MakeTokens) -> None:
    """An account the proxy does not know gives NOT_FOUND naming mcp_server.account_id."""
    tokens = await make_tokens()
    code, violated = await rejected(
        tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server(account_id="acct_nobody")))
    )
    assert (code, violated) == (grpc.StatusCode.NOT_FOUND, ["mcp_server.account_id"])


async def make_one(tokens: Tokens) -> pb.CreateMcpServerResponse:
    return await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=server()))


async def test_update_rejects_bad_masks_and_values(make_tokens: MakeTokens) -> None:
    """Unknown or empty masks, bad names, scopes and expiries are refused and nothing changes."""
    tokens = await make_tokens()
    created = await make_one(tokens)
    rid = created.mcp_server.id
    cases = [
        (pb.McpServer(id=rid, account_id="acct_other"), ["account_id"], ["update_mask.paths[0]"]),
        (pb.McpServer(id=rid, name="x"), [], ["update_mask"]),
        (pb.McpServer(id=rid, name=""), ["name"], ["mcp_server.name"]),
        (pb.McpServer(id=rid, expire_time=ts(time.time() + 5)), ["expire_time"], ["mcp_server.expire_time"]),
        (
            pb.McpServer(id=rid, config=pb.McpServerConfig(methods=["nope"])),
            ["config"],
            ["mcp_server.config.methods", "mcp_server.config.methods[0]"],
        ),
        (pb.McpServer(name="x"), ["name"], ["mcp_server.id"]),
    ]
    for spec, paths, fields in cases:
        request = pb.UpdateMcpServerRequest(
            mcp_server=spec, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
        code, violated = await rejected(tokens.stub.UpdateMcpServer(request))
        assert (code, violated) == (INVALID, fields), paths
    unchanged = await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=rid))
    assert unchanged.mcp_server == created.mcp_server


async def test_unknown_ids_are_not_found_and_empty_ids_invalid(make_tokens: MakeTokens) -> None:
    """Get, Update, Delete and Rotate of an unknown id are NOT_FOUND; an empty id is INVALID_ARGUMENT."""
    tokens = await make_tokens()
    mask = field_mask_pb2.FieldMask(paths=["name"])
    for rid, code in (("mcp_missing", grpc.StatusCode.NOT_FOUND), ("", INVALID)):
        calls = [
            tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=rid)),
            tokens.stub.UpdateMcpServer(
                pb.UpdateMcpServerRequest(mcp_server=pb.McpServer(id=rid, name="x"), update_mask=mask)
            ),
            tokens.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=rid)),
            tokens.stub.RotateMcpServerToken(pb.RotateMcpServerTokenRequest(id=rid)),
            tokens.stub.RevokeApiToken(pb.RevokeApiTokenRequest(id=rid)),
        ]
        for call in calls:
            assert (await rejected(call))[0] == code


async def test_rotation_grace_outside_bounds_is_refused(make_tokens: MakeTokens) -> None:
    """A negative grace or one beyond max_rotation_grace_s is INVALID_ARGUMENT and the token stays."""
    tokens = await make_tokens(max_rotation_grace_s=3600)
    created = await make_one(tokens)
    for grace in (duration_pb2.Duration(seconds=-1), duration_pb2.Duration(seconds=3601)):
        request = pb.RotateMcpServerTokenRequest(id=created.mcp_server.id, grace_period=grace)
        assert await rejected(tokens.stub.RotateMcpServerToken(request)) == (INVALID, ["grace_period"])
    assert (await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))).mcp_server.id


async def test_listing_rejects_bad_paging_and_missing_account(make_tokens: MakeTokens) -> None:
    """Missing account, negative page size, and foreign or damaged page tokens are INVALID_ARGUMENT."""
    tokens = await make_tokens()
    for _ in range(3):
        await make_one(tokens)
    page = await tokens.stub.ListMcpServers(pb.ListMcpServersRequest(account_id=KNOWN_ACCOUNT, page_size=1))
    assert page.next_page_token
    cases = [
        (pb.ListMcpServersRequest(), ["account_id"]),
        (pb.ListMcpServersRequest(account_id=KNOWN_ACCOUNT, page_size=-1), ["page_size"]),
        (pb.ListMcpServersRequest(account_id=KNOWN_ACCOUNT, page_token="garbage!!"), ["page_token"]),
        (pb.ListMcpServersRequest(account_id="acct_other", page_token=page.next_page_token), ["page_token"]),
    ]
    for request, fields in cases:
        assert await rejected(tokens.stub.ListMcpServers(request)) == (INVALID, fields)
    api_request = pb.ListApiTokensRequest(page_token=page.next_page_token)
    assert await rejected(tokens.stub.ListApiTokens(api_request)) == (INVALID, ["page_token"])


def forged_page_token(kind: str, scope: str, position: str) -> str:
    raw = '{"k":' + json.dumps(kind) + ',"s":' + json.dumps(scope) + ',"t":' + position + ',"i":"zzz"}'
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("position", ["NaN", "Infinity", "-Infinity", "9" * 400])
async def test_a_page_token_with_a_non_finite_position_is_refused(
    make_tokens: MakeTokens, position: str
) -> None:
    """A forged page token whose position is NaN, infinite or an integer too large for a float is
    INVALID_ARGUMENT naming page_token on both stores (SQLite answered an empty page for NaN, Redis
    UNAVAILABLE; a 400-digit integer raised OverflowError, INTERNAL)."""
    tokens = await make_tokens()
    await make_one(tokens)
    await tokens.stub.CreateApiToken(
        pb.CreateApiTokenRequest(api_token=pb.ApiToken(name="a", purposes=[P.API_TOKEN_PURPOSE_MCP_CLIENT]))
    )
    servers = pb.ListMcpServersRequest(
        account_id=KNOWN_ACCOUNT, page_token=forged_page_token("mcp", KNOWN_ACCOUNT, position)
    )
    assert await rejected(tokens.stub.ListMcpServers(servers)) == (INVALID, ["page_token"])
    apis = pb.ListApiTokensRequest(page_token=forged_page_token("api", "", position))
    assert await rejected(tokens.stub.ListApiTokens(apis)) == (INVALID, ["page_token"])


async def test_api_token_creation_rejects_bad_input(make_tokens: MakeTokens) -> None:
    """No or unspecified purpose, bad name or expiry: INVALID_ARGUMENT; unknown account: NOT_FOUND."""
    tokens = await make_tokens()
    cases = [
        (pb.ApiToken(name="a"), INVALID, ["api_token.purposes"]),
        (
            pb.ApiToken(name="a", purposes=[P.API_TOKEN_PURPOSE_UNSPECIFIED]),
            INVALID,
            ["api_token.purposes[0]"],
        ),
        (pb.ApiToken(name="", purposes=[P.API_TOKEN_PURPOSE_MCP_CLIENT]), INVALID, ["api_token.name"]),
        (
            pb.ApiToken(name="a", purposes=[P.API_TOKEN_PURPOSE_MCP_CLIENT], expire_time=ts(time.time() - 1)),
            INVALID,
            ["api_token.expire_time"],
        ),
        (
            pb.ApiToken(name="a", purposes=[P.API_TOKEN_PURPOSE_MCP_CLIENT], account_id="acct_nobody"),
            grpc.StatusCode.NOT_FOUND,
            ["api_token.account_id"],
        ),
    ]
    for spec, code, fields in cases:
        assert await rejected(tokens.stub.CreateApiToken(pb.CreateApiTokenRequest(api_token=spec))) == (
            code,
            fields,
        )
    assert list((await tokens.stub.ListApiTokens(pb.ListApiTokensRequest())).api_tokens) == []
