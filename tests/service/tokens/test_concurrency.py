"""Resolves racing deletes: every resolve either succeeds or says NOT_FOUND, never anything else."""

from __future__ import annotations

import asyncio
import random

import grpc

from gumloop_mcp.tokens.v1 import tokens_service_pb2 as pb
from tests.service.tokens.conftest import KNOWN_ACCOUNT, MakeTokens


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
