"""Accounts connected by OAuth: the real proxy(s) against the emulator's OAuth server, on loopback.

Proxy and emulator share one shifted clock, so an access token expires by moving it (no sleeping).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest

from gumloop_mcp.emulator import EmulatorSettings, RunningEmulator, start_emulator
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from services.gumloop_proxy.server import create_server
from services.gumloop_proxy.settings import ProxySettings

REDIRECT = "http://127.0.0.1:9/oauth/callback"
TTL_S = 600


class ShiftedClock:
    """Real time plus an offset tests move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def emulator(clock: ShiftedClock) -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(host="127.0.0.1", port=0, oauth_access_token_ttl_s=TTL_S)
    async with await start_emulator(settings, clock=clock) as running:
        yield running


async def _replica(settings: ProxySettings, clock: ShiftedClock) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    server = await create_server(settings, clock=clock)
    async with server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.ProxyServiceStub(channel)


@pytest.fixture
def settings(tmp_path: Path) -> ProxySettings:
    return ProxySettings(host="127.0.0.1", grpc_port=0, data_dir=tmp_path, store="sqlite", log_json=False)


@pytest.fixture
async def stub(settings: ProxySettings, clock: ShiftedClock) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    async for s in _replica(settings, clock):
        yield s


@pytest.fixture
async def second(settings: ProxySettings, clock: ShiftedClock) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    """Another replica on the same store (SQLite file and key)."""
    async for s in _replica(settings, clock):
        yield s


async def _emulator_oauth(emulator: RunningEmulator) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        summary: dict[str, Any] = (await http.get(emulator.base_url + "/__emulator/oauth")).json()
    return summary


async def _follow(url: str) -> dict[str, str]:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _start(stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator) -> pb.StartAccountOAuthResponse:
    account = pb.IntegratedAccount(
        display_name="oauth", api_base_url=emulator.api_base_url, stream_base_url=emulator.stream_base_url
    )
    started: pb.StartAccountOAuthResponse = await stub.StartAccountOAuth(
        pb.StartAccountOAuthRequest(account=account, redirect_uri=REDIRECT), timeout=10
    )
    return started


async def _connect(stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator) -> pb.IntegratedAccount:
    started = await _start(stub, emulator)
    assert started.account.state == pb.ACCOUNT_STATE_PENDING_AUTHORIZATION
    query = await _follow(started.authorization_url)
    assert query["state"] == started.state
    done = await stub.CompleteAccountOAuth(
        pb.CompleteAccountOAuthRequest(state=query["state"], code=query["code"]), timeout=10
    )
    account: pb.IntegratedAccount = done.account
    assert account.state == pb.ACCOUNT_STATE_ACTIVE
    assert account.credential_kind == pb.CREDENTIAL_KIND_OAUTH_CONNECTION
    return account


async def _agents(stub: pb_grpc.ProxyServiceStub, account_id: str) -> pb.InvokeOperationResponse:
    answer: pb.InvokeOperationResponse = await stub.InvokeOperation(
        pb.InvokeOperationRequest(account_id=account_id, operation="list_agents", arguments_json="{}"),
        timeout=10,
    )
    return answer


async def test_authorization_url_carries_pkce_state_and_the_registered_client(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator
) -> None:
    started = await _start(stub, emulator)
    url = urlsplit(started.authorization_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == emulator.base_url + "/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["state"] == started.state and query["redirect_uri"] == REDIRECT
    assert query["scope"] == "gumloop userinfo" and query["response_type"] == "code"
    assert (await _emulator_oauth(emulator))["clients"] == 1
    # Pending: calls are refused with a clear error and nothing goes upstream.
    with pytest.raises(grpc.aio.AioRpcError) as pending:
        await _agents(stub, started.account.id)
    assert pending.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "waiting for its OAuth authorization" in (pending.value.details() or "")


async def test_account_keeps_working_across_an_access_token_expiry(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, clock: ShiftedClock
) -> None:
    account = await _connect(stub, emulator)
    first_expiry = account.access_token_expire_time.ToSeconds()
    assert abs(first_expiry - (clock() + TTL_S)) < 5
    assert (await _agents(stub, account.id)).http_status == 200

    clock.offset += TTL_S + 1  # the token is expired at the emulator and in the proxy's view
    assert (await _agents(stub, account.id)).http_status == 200
    assert (await _emulator_oauth(emulator))["stats"]["refreshes"] == 1
    after = (await stub.GetIntegratedAccount(pb.GetIntegratedAccountRequest(account_id=account.id))).account
    assert after.access_token_expire_time.ToSeconds() > first_expiry
    assert after.state == pb.ACCOUNT_STATE_ACTIVE


async def test_refreshes_before_expiry_within_the_margin(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, clock: ShiftedClock
) -> None:
    account = await _connect(stub, emulator)
    clock.offset += TTL_S - 30  # 30 s left, inside the default 60 s margin: still valid upstream
    assert (await _agents(stub, account.id)).http_status == 200
    assert (await _emulator_oauth(emulator))["stats"]["refreshes"] == 1


async def test_concurrent_calls_at_expiry_on_two_replicas_refresh_once(
    stub: pb_grpc.ProxyServiceStub,
    second: pb_grpc.ProxyServiceStub,
    emulator: RunningEmulator,
    clock: ShiftedClock,
) -> None:
    account = await _connect(stub, emulator)
    clock.offset += TTL_S + 1
    answers = await asyncio.gather(*(_agents(s, account.id) for s in [stub, second] * 10))
    assert [a.http_status for a in answers] == [200] * 20
    stats = (await _emulator_oauth(emulator))["stats"]
    assert stats["refreshes"] == 1 and stats["refused_refreshes"] == 0


async def test_an_unexpected_401_forces_one_refresh_and_the_call_is_sent_again(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator
) -> None:
    account = await _connect(stub, emulator)
    async with httpx.AsyncClient() as http:
        fault = {"method": "GET", "path": "/api/v1/agents", "kind": "status", "status": 401, "count": 1}
        assert (await http.post(emulator.base_url + "/__emulator/faults", json=fault)).status_code == 201
    assert (await _agents(stub, account.id)).http_status == 200
    assert (await _emulator_oauth(emulator))["stats"]["refreshes"] == 1


async def test_refused_refresh_marks_needs_reconnection_and_reconnecting_restores_it(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, clock: ShiftedClock
) -> None:
    account = await _connect(stub, emulator)
    async with httpx.AsyncClient() as http:
        assert (await http.post(emulator.base_url + "/__emulator/oauth/revoke-all")).json() == {"revoked": 1}
    clock.offset += TTL_S + 1
    for _ in range(2):  # the second call fails at once, without asking Gumloop again
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _agents(stub, account.id)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"account {account.id} needs reconnection" in (refused.value.details() or "")
        assert f"/integrated-account/{account.id}/oauth/start" in (refused.value.details() or "")
    assert (await _emulator_oauth(emulator))["stats"]["refused_refreshes"] == 1
    got = (await stub.GetIntegratedAccount(pb.GetIntegratedAccountRequest(account_id=account.id))).account
    assert got.state == pb.ACCOUNT_STATE_NEEDS_RECONNECTION

    again = await stub.StartAccountOAuth(
        pb.StartAccountOAuthRequest(account_id=account.id, redirect_uri=REDIRECT), timeout=10
    )
    assert again.account.id == account.id
    query = await _follow(again.authorization_url)
    done = await stub.CompleteAccountOAuth(
        pb.CompleteAccountOAuthRequest(state=query["state"], code=query["code"])
    )
    assert done.account.state == pb.ACCOUNT_STATE_ACTIVE
    assert (await _agents(stub, account.id)).http_status == 200


async def test_deleting_the_account_revokes_its_tokens_at_gumloop(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator
) -> None:
    account = await _connect(stub, emulator)
    await stub.DeleteIntegratedAccount(pb.DeleteIntegratedAccountRequest(account_id=account.id), timeout=10)
    summary = await _emulator_oauth(emulator)
    assert [g["revoked"] for g in summary["grants"]] == [True]
    assert summary["stats"]["revocations"] == 1


async def test_callback_errors_are_clear_and_a_state_is_single_use(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.CompleteAccountOAuth(pb.CompleteAccountOAuthRequest(state="nope", code="x"))
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "state" in (unknown.value.details() or "")

    denied = await _start(stub, emulator)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CompleteAccountOAuth(
            pb.CompleteAccountOAuthRequest(state=denied.state, error="access_denied", error_description="no")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "access_denied" in (refused.value.details() or "")

    started = await _start(stub, emulator)
    query = await _follow(started.authorization_url)
    with pytest.raises(grpc.aio.AioRpcError) as bad_code:
        await stub.CompleteAccountOAuth(pb.CompleteAccountOAuthRequest(state=query["state"], code="wrong"))
    assert bad_code.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "invalid_grant" in (bad_code.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as reused:  # the flow was used up by the failed attempt
        await stub.CompleteAccountOAuth(
            pb.CompleteAccountOAuthRequest(state=query["state"], code=query["code"])
        )
    assert reused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_bad_start_requests_are_refused_naming_the_field(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.StartAccountOAuth(
            pb.StartAccountOAuthRequest(
                account=pb.IntegratedAccount(api_base_url=emulator.api_base_url), redirect_uri="ftp://x"
            )
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "redirect_uri" in (
        bad.value.details() or ""
    )
    with pytest.raises(grpc.aio.AioRpcError) as kind:
        await stub.CreateIntegratedAccount(
            pb.CreateIntegratedAccountRequest(
                account=pb.IntegratedAccount(api_base_url=emulator.api_base_url),
                credential=pb.Credential(kind=pb.CREDENTIAL_KIND_OAUTH_CONNECTION, secret="x"),
            )
        )
    assert kind.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "StartAccountOAuth" in (
        kind.value.details() or ""
    )
