"""Over-long or malformed path and query values through the real proxy: INVALID_ARGUMENT naming the
field, a short message, and no request upstream (the account points at FakeGumloop, which records)."""

from __future__ import annotations

import grpc
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import field_violations

from .conftest import FakeGumloop, create_fake_account, invoke


async def _refused(
    stub: pb_grpc.ProxyServiceStub, account_id: str, operation: str, arguments: dict[str, str]
) -> list[tuple[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(stub, account_id, operation, arguments)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(caught.value.details() or "") < 1000  # the value is never echoed back
    return field_violations(caught.value)


@pytest.mark.parametrize("length", [9_000, 70_000])
async def test_an_over_long_agent_id_is_refused_naming_it_and_nothing_is_sent(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop, length: int
) -> None:
    account = await create_fake_account(stub, gumloop)
    violations = await _refused(stub, account.id, "get_agent", {"agent_id": "a" * length})
    assert violations == [("agent_id", f"must be at most 200 characters long, got {length}")]
    assert gumloop.seen == []


async def test_an_id_with_url_characters_is_refused_by_the_id_pattern(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop
) -> None:
    account = await create_fake_account(stub, gumloop)
    violations = await _refused(stub, account.id, "get_agent", {"agent_id": "a/../../teams"})
    assert violations == [("agent_id", "must match the pattern ^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
    assert gumloop.seen == []


async def test_an_over_long_query_value_is_refused_naming_it_and_nothing_is_sent(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop
) -> None:
    """A free-text query argument has no schema bound: the proxy's generic one applies."""
    account = await create_fake_account(stub, gumloop)
    violations = await _refused(stub, account.id, "list_agents", {"search": "s" * 9_000})
    assert [field for field, _ in violations] == ["search"]
    assert "at most 2048" in violations[0][1]
    assert gumloop.seen == []


async def test_a_well_formed_id_is_sent(stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop) -> None:
    """The control: the same call with a real-looking id reaches the upstream (here a 404)."""
    account = await create_fake_account(stub, gumloop)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(stub, account.id, "get_agent", {"agent_id": "abc123DEFghiJKL"})
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert [line.split("?")[0] for line in gumloop.seen] == ["GET /api/v1/agents/abc123DEFghiJKL"]
