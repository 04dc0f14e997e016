"""Resolves racing deletes: every resolve either succeeds or says NOT_FOUND, never anything else."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import grpc
from google.protobuf import duration_pb2

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens, record_in_storage, storage_dump


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
