"""Races: resolves against deletes (only success or NOT_FOUND), rotations against deletes, updates of
different fields against each other (every one lands)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from services.tokens.store import ScopeChanged, ServerUpdate
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens, record_in_storage, storage_dump, ts


async def test_concurrent_resolves_during_deletes_never_fail_otherwise(make_tokens: MakeTokens) -> None:
    """300 resolves interleaved with deleting all ten records: only successes and NOT_FOUND."""
    tokens = await make_tokens()
    spec = pb.McpServer(name="c", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))
    created = [
        await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec)) for _ in range(10)
    ]
    rng = random.Random(7)

    async def resolve(token: str) -> str:
        try:
            response = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=token))
        except grpc.aio.AioRpcError as err:
            return err.code().name
        return "OK" if response.mcp_server.id else "EMPTY"

    async def delete(server_id: str) -> str:
        await asyncio.sleep(0)
        await tokens.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=server_id))
        return "DELETED"

    jobs = [resolve(rng.choice(created).token) for _ in range(300)]
    for index, item in enumerate(created):
        jobs.insert(index * 30 + 15, delete(item.mcp_server.id))
    outcomes = await asyncio.gather(*jobs)
    assert set(outcomes) <= {"OK", "NOT_FOUND", "DELETED"}
    assert outcomes.count("DELETED") == 10
    assert "OK" in outcomes
    after = await asyncio.gather(*(resolve(item.token) for item in created))
    assert set(after) == {"NOT_FOUND"}


async def test_rotations_racing_deletes_leave_nothing_behind(make_tokens: MakeTokens) -> None:
    """Rotating and deleting the same records at once ends with every record and token gone from storage."""
    tokens = await make_tokens()
    spec = pb.McpServer(name="r", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"]))
    created = [
        await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec)) for _ in range(10)
    ]

    async def outcome(call: Any) -> str:
        try:
            await call
        except grpc.aio.AioRpcError as err:
            return err.code().name
        return "OK"

    grace = duration_pb2.Duration(seconds=600)
    jobs = []
    for item in created:
        jobs += [
            outcome(
                tokens.stub.RotateMcpServerToken(
                    pb.RotateMcpServerTokenRequest(id=item.mcp_server.id, grace_period=grace)
                )
            ),
            outcome(tokens.stub.DeleteMcpServer(pb.DeleteMcpServerRequest(id=item.mcp_server.id))),
            outcome(
                tokens.stub.RotateMcpServerToken(
                    pb.RotateMcpServerTokenRequest(id=item.mcp_server.id, grace_period=grace)
                )
            ),
        ]
    outcomes = await asyncio.gather(*jobs)
    assert set(outcomes) <= {"OK", "NOT_FOUND"}
    for item in created:
        assert not await record_in_storage(tokens, item.mcp_server.id)
    if tokens.settings.store == "redis":
        assert b"gmcp:tokens:tok:" not in await storage_dump(tokens)


def _update(server_id: str, paths: list[str], **fields: Any) -> pb.UpdateMcpServerRequest:
    return pb.UpdateMcpServerRequest(
        mcp_server=pb.McpServer(id=server_id, **fields),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )


async def test_concurrent_updates_of_different_fields_all_land(make_tokens: MakeTokens) -> None:
    """A rename, switching on require_api_token_auth and shortening the expiry, fired together on the
    same record, all survive (each update used to write every field back from its own stale read)."""
    tokens = await make_tokens()
    spec = pb.McpServer(
        name="u",
        account_id=KNOWN_ACCOUNT,
        config=pb.McpServerConfig(methods=["read"]),
        expire_time=ts(time.time() + 86_400),
    )
    for round_ in range(20):
        created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
        server_id = created.mcp_server.id
        shorter = time.time() + 3600 + round_
        await asyncio.gather(
            tokens.stub.UpdateMcpServer(_update(server_id, ["name"], name=f"renamed-{round_}")),
            tokens.stub.UpdateMcpServer(
                _update(server_id, ["require_api_token_auth"], require_api_token_auth=True)
            ),
            tokens.stub.UpdateMcpServer(_update(server_id, ["expire_time"], expire_time=ts(shorter))),
        )
        got = (await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=server_id))).mcp_server
        assert got.name == f"renamed-{round_}", f"round {round_}: rename lost"
        assert got.require_api_token_auth is True, f"round {round_}: second factor lost"
        assert abs(got.expire_time.ToNanoseconds() / 1e9 - shorter) < 0.001, f"round {round_}: expiry lost"
        resolved = await tokens.stub.ResolveToken(pb.ResolveTokenRequest(token=created.token))
        assert resolved.mcp_server.require_api_token_auth is True
        assert abs(resolved.token_expire_time.ToNanoseconds() / 1e9 - shorter) < 0.001


async def test_concurrent_updates_of_each_scope_half_both_land(make_tokens: MakeTokens) -> None:
    """config.methods and config.tags changed at the same time: the record ends with both new halves
    (a partial scope update validated against a half that moved is validated again, not dropped)."""
    tokens = await make_tokens()
    spec = pb.McpServer(
        name="s", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"], tags=["agents"])
    )
    for round_ in range(10):
        created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
        server_id = created.mcp_server.id
        await asyncio.gather(
            tokens.stub.UpdateMcpServer(
                _update(server_id, ["config.methods"], config=pb.McpServerConfig(methods=["read", "custom"]))
            ),
            tokens.stub.UpdateMcpServer(
                _update(server_id, ["config.tags"], config=pb.McpServerConfig(tags=["agents", "flows"]))
            ),
        )
        got = (await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=server_id))).mcp_server
        assert (list(got.config.methods), list(got.config.tags)) == (
            ["read", "custom"],
            ["agents", "flows"],
        ), f"round {round_}"


async def test_a_partial_scope_update_whose_other_half_moved_writes_nothing(make_tokens: MakeTokens) -> None:
    """The store refuses (ScopeChanged) a new methods half validated against tags that are no longer
    stored, and leaves the record as it was."""
    tokens = await make_tokens()
    spec = pb.McpServer(
        name="s", account_id=KNOWN_ACCOUNT, config=pb.McpServerConfig(methods=["read"], tags=["agents"])
    )
    created = await tokens.stub.CreateMcpServer(pb.CreateMcpServerRequest(mcp_server=spec))
    server_id = created.mcp_server.id
    stale = ServerUpdate(update_time=time.time(), methods=("custom",), expect_tags=("flows",))
    with pytest.raises(ScopeChanged):
        await tokens.service.store.update_server(server_id, stale)
    got = (await tokens.stub.GetMcpServer(pb.GetMcpServerRequest(id=server_id))).mcp_server
    assert (list(got.config.methods), list(got.config.tags)) == (["read"], ["agents"])
    assert got.update_time == created.mcp_server.update_time
    fresh = ServerUpdate(update_time=time.time(), methods=("read", "custom"), expect_tags=("agents",))
    written = await tokens.service.store.update_server(server_id, fresh)
    assert written is not None and (written.methods, written.tags) == (("read", "custom"), ("agents",))
