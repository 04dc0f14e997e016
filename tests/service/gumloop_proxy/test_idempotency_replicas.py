"""Idempotency keys across proxy replicas: two real proxies on one Redis start ONE run upstream.

The proxies run with store=redis against the bundled emulator; the emulator's own run table is
the witness of how many runs Gumloop started.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from gumloop_mcp.emulator.context import EMU
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import create_grpc_server
from services.gumloop_proxy.catalog import default_catalog
from services.gumloop_proxy.idempotency_redis import RedisIdempotencyStore
from services.gumloop_proxy.server import SERVICE_NAME, ProxyServer, create_server, open_account_store
from services.gumloop_proxy.servicer import ProxyServicer
from services.gumloop_proxy.settings import ProxySettings
from services.gumloop_proxy.upstream import Upstream
from tests.conftest import find_redis_server, start_redis, stop_redis

from .conftest import create_account, invoke


def _runs(emulator: Any) -> int:
    """How many automation runs the emulator has started."""
    return len(emulator.app[EMU].store.runs)


async def _slow_start_pipeline(emulator: Any, latency_ms: int) -> None:
    """Make the emulator's start_pipeline slow, so concurrent calls overlap."""
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{emulator.base_url}/__emulator/faults",
            json={
                "match": {"path_prefix": "/api/v1/start_pipeline"},
                "kind": "latency",
                "latency_ms": latency_ms,
                "count": 10,
            },
        )
        response.raise_for_status()


async def _flow_arguments(stub: pb_grpc.ProxyServiceStub, account_id: str) -> dict[str, Any]:
    """start_pipeline arguments for the first saved flow, with every declared input."""
    _, items = await invoke(stub, account_id, "list_saved_items", {})
    saved_item_id = items["saved_items"][0]["saved_item_id"]
    schema = await stub.GetFlowInputSchema(
        pb.GetFlowInputSchemaRequest(account_id=account_id, saved_item_id=saved_item_id), timeout=10
    )
    assert schema.inputs, "the emulator's first flow declares inputs (the tests vary them)"
    return {"saved_item_id": saved_item_id, "pipeline_inputs": {i.name: "v" for i in schema.inputs}}


@pytest.fixture
async def two_proxies(clean_redis_url: str, tmp_path: Path) -> AsyncIterator[list[pb_grpc.ProxyServiceStub]]:
    """Two proxy servers (store=redis, one Redis, one encryption key) and a stub for each."""
    key = SecretStr(Fernet.generate_key().decode())
    servers: list[ProxyServer] = []
    channels: list[grpc.aio.Channel] = []
    try:
        for name in ("a", "b"):
            settings = ProxySettings(
                host="127.0.0.1",
                grpc_port=0,
                data_dir=tmp_path / name,
                store="redis",
                redis_url=SecretStr(clean_redis_url),
                encryption_key=key,
                log_json=False,
            )
            server = await create_server(settings)
            servers.append(server)
            await server.start()
            channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{server.port}"))
        yield [pb_grpc.ProxyServiceStub(channel) for channel in channels]
    finally:
        for channel in channels:
            await channel.close()
        for server in servers:
            await server.stop(0.5)


async def test_one_key_sent_to_two_replicas_starts_exactly_one_run(
    two_proxies: list[pb_grpc.ProxyServiceStub], emulator: Any
) -> None:
    """Concurrent start_pipeline with one key on both replicas: one run upstream, the same answer twice."""
    one, two = two_proxies
    account = await create_account(one, emulator)
    arguments = await _flow_arguments(two, account.id)
    await _slow_start_pipeline(emulator, 400)
    before = _runs(emulator)
    (first, body_one), (second, body_two) = await asyncio.gather(
        invoke(one, account.id, "start_pipeline", arguments, idempotency_key="run-once-1"),
        invoke(two, account.id, "start_pipeline", arguments, idempotency_key="run-once-1"),
    )
    assert _runs(emulator) == before + 1
    assert body_one["run_id"] and body_one == body_two
    assert first.http_status == second.http_status == 200
    assert sorted([first.idempotent_replay, second.idempotent_replay]) == [False, True]
    # A later retry on either replica replays; another request under the key is refused.
    again, body_again = await invoke(
        one, account.id, "start_pipeline", arguments, idempotency_key="run-once-1"
    )
    assert again.idempotent_replay and body_again == body_one
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(
            two,
            account.id,
            "start_pipeline",
            {**arguments, "pipeline_inputs": dict.fromkeys(arguments["pipeline_inputs"], "other")},
            idempotency_key="run-once-1",
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "idempotency key" in (caught.value.details() or "")
    assert _runs(emulator) == before + 1


async def test_a_retry_on_the_other_replica_after_the_first_answer_replays_it(
    two_proxies: list[pb_grpc.ProxyServiceStub], emulator: Any
) -> None:
    """Sequential: the first replica answers, the retry lands on the second and starts nothing."""
    one, two = two_proxies
    account = await create_account(one, emulator)
    arguments = await _flow_arguments(one, account.id)
    before = _runs(emulator)
    first, body = await invoke(one, account.id, "start_pipeline", arguments, idempotency_key="k-seq")
    retry, body_retry = await invoke(two, account.id, "start_pipeline", arguments, idempotency_key="k-seq")
    assert not first.idempotent_replay and retry.idempotent_replay
    assert body_retry == body and json.loads(retry.body_json)["run_id"] == body["run_id"]
    assert _runs(emulator) == before + 1


async def test_with_redis_down_keyed_calls_are_unavailable_and_unkeyed_calls_still_work(
    tmp_path: Path, emulator: Any
) -> None:
    """Idempotency Redis stopped: a keyed start_pipeline is UNAVAILABLE and starts nothing; no key works."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found (run scripts/ensure-redis or set REDIS_SERVER)")
    # Accounts in SQLite, idempotency on a private Redis that this test stops.
    settings = ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path, store="sqlite", log_json=False)
    with tempfile.TemporaryDirectory(prefix="gmcp-redis-") as workdir:
        proc, port = start_redis(binary, workdir)
        try:
            store, upstream, catalog = open_account_store(settings), Upstream(settings), default_catalog()
            idempotency = RedisIdempotencyStore(
                f"redis://127.0.0.1:{port}/0", "gmcp:test:", ttl_s=60, lease_s=10, timeout_s=1.0
            )
            servicer = ProxyServicer(settings, catalog, store, upstream, idempotency)
            server, bound, health = create_grpc_server(
                lambda s: pb_grpc.add_ProxyServiceServicer_to_server(servicer, s),
                [SERVICE_NAME],
                host="127.0.0.1",
                port=0,
            )
            async with (
                ProxyServer(server, bound, health, store, upstream, catalog, idempotency),
                grpc.aio.insecure_channel(f"127.0.0.1:{bound}") as channel,
            ):
                stub = pb_grpc.ProxyServiceStub(channel)
                account = await create_account(stub, emulator)
                arguments = await _flow_arguments(stub, account.id)
                stop_redis(proc)
                before = _runs(emulator)
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await invoke(stub, account.id, "start_pipeline", arguments, idempotency_key="k-down")
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "idempotency store (Redis) is unavailable" in (caught.value.details() or "")
                assert "not sent to Gumloop" in (caught.value.details() or "")
                assert _runs(emulator) == before
                plain, body = await invoke(stub, account.id, "start_pipeline", arguments)
                assert plain.http_status == 200 and body["run_id"]
                assert _runs(emulator) == before + 1
        finally:
            stop_redis(proc)
