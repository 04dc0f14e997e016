"""Accounts connected by OAuth: the real proxy(s) against the emulator's OAuth server, on loopback.

Every test runs on the SQLite store and on a real Redis (two replicas share the SQLite file, or the
Redis). Proxy and emulator share one shifted clock, so an access token expires by moving it (no
sleeping). Each replica's store is watched: every token, PKCE verifier, code and state the flows handle is
recorded, and after each test none of them may appear in anything the proxy logged; a test can make the
next store writes fail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import grpc
import httpx
import pytest
from pydantic import SecretStr

from gumloop_mcp.emulator import EmulatorSettings, RunningEmulator, start_emulator
from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from services.gumloop_proxy.accounts import StoredAccount
from services.gumloop_proxy.errors import StoreUnavailable
from services.gumloop_proxy.server import create_server
from services.gumloop_proxy.settings import ProxySettings

REDIRECT = "http://127.0.0.1:9/oauth/callback"
TTL_S = 600
STORE_ATTEMPTS = 4


class ShiftedClock:
    """Real time plus an offset tests move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Watch:
    """What the replicas' stores were handed, their log, and injected store failures."""

    secrets: set[str] = field(default_factory=set)
    records: list[logging.LogRecord] = field(default_factory=list)
    failing_writes: int = 0  # the next this many account writes fail with StoreUnavailable
    writes: int = 0

    def note(self, *values: str) -> None:
        self.secrets.update(v for v in values if v)

    def proxy_log(self) -> str:
        """Everything the proxy (not the emulator) logged, tracebacks included."""
        form = logging.Formatter("%(name)s %(levelname)s %(message)s")
        mine = [r for r in self.records if not r.name.startswith(("gumloop_mcp.emulator", "aiohttp"))]
        return "\n".join(form.format(r) for r in mine)


@pytest.fixture
def watch() -> Iterator[Watch]:
    """Collects every log record (DEBUG and up); afterwards no recorded secret may be in the proxy's."""
    found = Watch()
    handler, root = _Collect(found.records), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield found
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    if found.secrets:
        text = found.proxy_log()
        assert "services.gumloop_proxy" in text  # the proxy's own records were captured
        leaked = sorted(s[:5] + "..." for s in found.secrets if s in text)  # kind prefix only
        assert not leaked, f"secrets in the proxy's log: {leaked}"


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def emulator(clock: ShiftedClock) -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(host="127.0.0.1", port=0, oauth_access_token_ttl_s=TTL_S)
    async with await start_emulator(settings, clock=clock) as running:
        yield running


async def _replica(
    settings: ProxySettings, clock: ShiftedClock, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    server = await create_server(settings, clock=clock)
    store = server.store
    replace, put_flow = store.replace, store.put_flow

    async def watched_replace(account: StoredAccount) -> None:
        watch.note(account.secret.get_secret_value())
        if account.oauth is not None:
            watch.note(account.oauth.refresh_token.get_secret_value())
        watch.writes += 1
        if watch.failing_writes > 0:
            watch.failing_writes -= 1
            raise StoreUnavailable("the account store is unavailable (injected by the test)")
        await replace(account)

    async def watched_put_flow(key: str, payload: SecretStr, ttl_s: float) -> None:
        watch.note(json.loads(payload.get_secret_value())["code_verifier"])
        await put_flow(key, payload, ttl_s)

    monkeypatch.setattr(store, "replace", watched_replace)
    monkeypatch.setattr(store, "put_flow", watched_put_flow)
    async with server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.ProxyServiceStub(channel)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> ProxySettings:
    """Both replicas' settings: one SQLite file, or one real Redis; the key file in tmp_path is shared."""
    common: dict[str, Any] = {
        "host": "127.0.0.1",
        "grpc_port": 0,
        "data_dir": tmp_path,
        "log_json": False,
        "oauth_store_attempts": STORE_ATTEMPTS,
        "oauth_store_backoff_s": 0.01,
    }
    if request.param == "redis":
        url = request.getfixturevalue("clean_redis_url")
        return ProxySettings(**common, store="redis", redis_url=SecretStr(url))
    return ProxySettings(**common, store="sqlite")


@pytest.fixture
async def stub(
    settings: ProxySettings, clock: ShiftedClock, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    async for s in _replica(settings, clock, watch, monkeypatch):
        yield s


@pytest.fixture
async def second(
    settings: ProxySettings, clock: ShiftedClock, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[pb_grpc.ProxyServiceStub]:
    """Another replica on the same store (SQLite file or Redis, and key)."""
    async for s in _replica(settings, clock, watch, monkeypatch):
        yield s


async def _emulator_oauth(emulator: RunningEmulator) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        summary: dict[str, Any] = (await http.get(emulator.base_url + "/__emulator/oauth")).json()
    return summary


async def _fault(emulator: RunningEmulator, method: str, path: str, status: int, count: int = 1) -> None:
    spec = {
        "match": {"method": method, "path_prefix": path},
        "kind": "status",
        "status": status,
        "count": count,
    }
    async with httpx.AsyncClient() as http:
        assert (await http.post(emulator.base_url + "/__emulator/faults", json=spec)).status_code == 201


async def _follow(url: str, watch: Watch) -> dict[str, str]:
    """The user's browser at the authorization URL: the callback's query (code and state).

    aiohttp, not httpx: httpx logs request URLs, and this one (the test's browser, not the proxy)
    carries the state."""
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    watch.note(query.get("code", ""), query.get("state", ""))
    return query


async def _start(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> pb.StartAccountOAuthResponse:
    account = pb.IntegratedAccount(
        display_name="oauth", api_base_url=emulator.api_base_url, stream_base_url=emulator.stream_base_url
    )
    started: pb.StartAccountOAuthResponse = await stub.StartAccountOAuth(
        pb.StartAccountOAuthRequest(account=account, redirect_uri=REDIRECT), timeout=10
    )
    watch.note(started.state)
    return started


async def _connect(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> pb.IntegratedAccount:
    started = await _start(stub, emulator, watch)
    assert started.account.state == pb.ACCOUNT_STATE_PENDING_AUTHORIZATION
    query = await _follow(started.authorization_url, watch)
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
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> None:
    started = await _start(stub, emulator, watch)
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
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, clock: ShiftedClock, watch: Watch
) -> None:
    account = await _connect(stub, emulator, watch)
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
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, clock: ShiftedClock, watch: Watch
) -> None:
    account = await _connect(stub, emulator, watch)
    clock.offset += TTL_S - 30  # 30 s left, inside the default 60 s margin: still valid upstream
    assert (await _agents(stub, account.id)).http_status == 200
    assert (await _emulator_oauth(emulator))["stats"]["refreshes"] == 1


async def test_concurrent_calls_at_expiry_on_two_replicas_refresh_once(
    stub: pb_grpc.ProxyServiceStub,
    second: pb_grpc.ProxyServiceStub,
    emulator: RunningEmulator,
    clock: ShiftedClock,
    watch: Watch,
) -> None:
    account = await _connect(stub, emulator, watch)
    clock.offset += TTL_S + 1
    answers = await asyncio.gather(*(_agents(s, account.id) for s in [stub, second] * 10))
    assert [a.http_status for a in answers] == [200] * 20
    stats = (await _emulator_oauth(emulator))["stats"]
    assert stats["refreshes"] == 1 and stats["refused_refreshes"] == 0


async def test_an_unexpected_401_forces_one_refresh_and_the_call_is_sent_again(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> None:
    account = await _connect(stub, emulator, watch)
    await _fault(emulator, "GET", "/api/v1/agents", 401)
    assert (await _agents(stub, account.id)).http_status == 200
    assert (await _emulator_oauth(emulator))["stats"]["refreshes"] == 1


async def test_refused_refresh_marks_needs_reconnection_and_reconnecting_restores_it(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, clock: ShiftedClock, watch: Watch
) -> None:
    account = await _connect(stub, emulator, watch)
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
    query = await _follow(again.authorization_url, watch)
    done = await stub.CompleteAccountOAuth(
        pb.CompleteAccountOAuthRequest(state=query["state"], code=query["code"])
    )
    assert done.account.state == pb.ACCOUNT_STATE_ACTIVE
    assert (await _agents(stub, account.id)).http_status == 200


async def test_deleting_the_account_revokes_its_tokens_at_gumloop(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> None:
    account = await _connect(stub, emulator, watch)
    await stub.DeleteIntegratedAccount(pb.DeleteIntegratedAccountRequest(account_id=account.id), timeout=10)
    summary = await _emulator_oauth(emulator)
    assert [g["revoked"] for g in summary["grants"]] == [True]
    assert summary["stats"]["revocations"] == 1


async def test_callback_errors_are_clear_and_a_state_is_single_use(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.CompleteAccountOAuth(pb.CompleteAccountOAuthRequest(state="nope", code="x"))
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "state" in (unknown.value.details() or "")

    denied = await _start(stub, emulator, watch)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CompleteAccountOAuth(
            pb.CompleteAccountOAuthRequest(state=denied.state, error="access_denied", error_description="no")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "access_denied" in (refused.value.details() or "")

    started = await _start(stub, emulator, watch)
    query = await _follow(started.authorization_url, watch)
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
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
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


CHAT = {"model": "anthropic/claude-sonnet-4", "messages": [{"role": "user", "content": "hi"}]}


async def _chat_stream(stub: pb_grpc.ProxyServiceStub, account_id: str) -> list[pb.StreamOperationResponse]:
    call = stub.StreamOperation(
        pb.StreamOperationRequest(
            account_id=account_id, operation="create_chat_completion", arguments_json=json.dumps(CHAT)
        ),
        timeout=15,
    )
    return [message async for message in call]


async def test_a_stream_answered_401_at_open_is_refreshed_once_and_opened_again(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> None:
    """Gumloop refuses the token as the stream opens (revoked early, clocks apart): nothing was relayed
    yet, so the proxy refreshes and opens the stream again; the client sees one whole stream."""
    account = await _connect(stub, emulator, watch)
    await _fault(emulator, "POST", "/ws/api/v1/chat/completions", 401)
    parts = await _chat_stream(stub, account.id)
    kinds = [p.WhichOneof("part") for p in parts]
    assert kinds[0] == "start" and parts[0].start.http_status == 200 and kinds[-1] == "end"
    events = [p.event.data for p in parts if p.WhichOneof("part") == "event"]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "Emulated answer to: hi"
    assert parts[-1].end.event_count == len(events)
    assert (await _emulator_oauth(emulator))["stats"]["refreshes"] == 1


async def test_a_stream_still_refused_after_the_refresh_fails_without_a_second_refresh(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> None:
    """One refresh and one reopen only: a second 401 reaches the client as UNAUTHENTICATED."""
    account = await _connect(stub, emulator, watch)
    await _fault(emulator, "POST", "/ws/api/v1/chat/completions", 401, count=2)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _chat_stream(stub, account.id)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await _emulator_oauth(emulator))["stats"]["refreshes"] == 1
    # The fault is used up: the account's (refreshed) token works for the next stream.
    parts = await _chat_stream(stub, account.id)
    assert parts[0].start.http_status == 200
    assert (await _emulator_oauth(emulator))["stats"]["refreshes"] == 1


async def test_refreshed_tokens_are_stored_though_the_store_fails_at_first(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, clock: ShiftedClock, watch: Watch
) -> None:
    """Gumloop rotates the refresh token on every refresh: the write of the new one is retried with
    backoff, so the next refresh (with the stored token) is accepted and the account stays active."""
    account = await _connect(stub, emulator, watch)
    clock.offset += TTL_S + 1
    watch.failing_writes, watch.writes = STORE_ATTEMPTS - 1, 0
    assert (await _agents(stub, account.id)).http_status == 200
    assert watch.writes == STORE_ATTEMPTS
    retried = [
        r.getMessage() for r in watch.records if "storing refreshed OAuth tokens failed" in r.getMessage()
    ]
    assert len(retried) == STORE_ATTEMPTS - 1
    assert f"attempt 1 of {STORE_ATTEMPTS}: StoreUnavailable" in retried[0]

    clock.offset += TTL_S + 1  # the next refresh uses the refresh token that was stored
    assert (await _agents(stub, account.id)).http_status == 200
    stats = (await _emulator_oauth(emulator))["stats"]
    assert stats["refreshes"] == 2 and stats["refused_refreshes"] == 0
    got = (await stub.GetIntegratedAccount(pb.GetIntegratedAccountRequest(account_id=account.id))).account
    assert got.state == pb.ACCOUNT_STATE_ACTIVE


async def test_a_store_down_through_every_attempt_fails_the_call_and_says_what_follows(
    stub: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, clock: ShiftedClock, watch: Watch
) -> None:
    """After oauth_store_attempts failed writes the call fails UNAVAILABLE and the error log says the
    account may need reconnection; with the rotated refresh token lost, it does."""
    account = await _connect(stub, emulator, watch)
    clock.offset += TTL_S + 1
    watch.failing_writes, watch.writes = STORE_ATTEMPTS, 0
    with pytest.raises(grpc.aio.AioRpcError) as down:
        await _agents(stub, account.id)
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    assert watch.writes == STORE_ATTEMPTS
    errors_logged = [r.getMessage() for r in watch.records if r.levelno == logging.ERROR]
    assert any(
        f"refreshed OAuth tokens could not be stored ({STORE_ATTEMPTS} attempts" in m
        and "will need reconnection" in m
        for m in errors_logged
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # the stored refresh token was used already
        await _agents(stub, account.id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "needs reconnection" in (refused.value.details() or "")


async def test_a_state_completes_once_when_two_replicas_race_on_it(
    stub: pb_grpc.ProxyServiceStub, second: pb_grpc.ProxyServiceStub, emulator: RunningEmulator, watch: Watch
) -> None:
    """The callback delivered ten times to two replicas at once: one exchange, the others refused."""
    started = await _start(stub, emulator, watch)
    query = await _follow(started.authorization_url, watch)
    request = pb.CompleteAccountOAuthRequest(state=query["state"], code=query["code"])
    outcomes = await asyncio.gather(
        *(s.CompleteAccountOAuth(request, timeout=10) for s in [stub, second] * 5), return_exceptions=True
    )
    done = [o for o in outcomes if isinstance(o, pb.CompleteAccountOAuthResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(done) == 1 and done[0].account.state == pb.ACCOUNT_STATE_ACTIVE
    assert len(refused) == 9 and all(r.code() == grpc.StatusCode.INVALID_ARGUMENT for r in refused)
    assert (await _emulator_oauth(emulator))["stats"]["code_exchanges"] == 1
