"""Upstream failures reach the caller as clear gRPC errors: 429s, auth, faults, bad input."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import error_details, field_violations
from services.gumloop_proxy.ratelimit import MAX_VALUE
from services.mcp_facade.tools.tool_errors import rpc_error_result

from .conftest import create_account, invoke


async def inject(emulator: Any, path: str, kind: str, *, absolute: bool = False, **fields: Any) -> None:
    """Ask the emulator to misbehave on requests under `path` (relative to the API base unless `absolute`)."""
    prefix = path if absolute else urlsplit(emulator.api_base_url).path + path
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{emulator.base_url}/__emulator/faults",
            json={"match": {"path_prefix": prefix}, "kind": kind, "count": 10, **fields},
        )
        response.raise_for_status()


def _unpack(error: grpc.aio.AioRpcError, message_type: Any) -> list[Any]:
    out = []
    for detail in error_details(error):
        if detail.Is(message_type.DESCRIPTOR):
            item = message_type()
            detail.Unpack(item)
            out.append(item)
    return out


async def _fails(
    stub: pb_grpc.ProxyServiceStub, account_id: str, operation: str, arguments: Any = None, **kw: Any
):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(stub, account_id, operation, arguments or {}, **kw)
    return caught.value


async def test_an_injected_429_is_resource_exhausted_with_rate_limit_trailers(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """A 429 is not retried and carries ratelimit-* / retry-after trailers, RetryInfo and the envelope."""
    await inject(
        emulator,
        "/teams",
        "status",
        status=429,
        headers={
            "Retry-After": "30",
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "30",
        },
    )
    error = await _fails(stub, account.id, "list_teams")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(error.trailing_metadata() or ())
    assert trailers["ratelimit-limit"] == "100"
    assert trailers["ratelimit-remaining"] == "0"
    assert trailers["retry-after"] == "30"
    assert "ratelimit" in trailers and "ratelimit-policy" in trailers
    (retry,) = _unpack(error, error_details_pb2.RetryInfo)
    assert retry.retry_delay.seconds == 30
    (upstream,) = _unpack(error, pb.UpstreamError)
    assert upstream.http_status == 429 and upstream.operation == "list_teams"
    assert upstream.rate_limit.limit == 100


@pytest.mark.parametrize("retry_after", ["1e999", "inf", "-5", "99999999999999999999999"])
async def test_a_429_with_a_nonsense_or_huge_retry_after_is_still_resource_exhausted(
    retry_after: str, stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """`1e999`/`inf` overflowed int(float()) and values above int64 broke the proto: both were INTERNAL."""
    await inject(emulator, "/teams", "status", status=429, headers={"Retry-After": retry_after})
    error = await _fails(stub, account.id, "list_teams")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    trailers = dict(error.trailing_metadata() or ())
    if retry_after.isdigit():
        assert trailers["retry-after"] == str(MAX_VALUE) and "retry-after-source" not in trailers
    else:  # unknown: the default applies
        assert trailers["retry-after"] == "30" and trailers["retry-after-source"] == "default"


async def test_a_429_without_rate_limit_headers_carries_a_default_retry_after_the_facade_reads(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """Gumloop documents no rate-limit headers: a bare 429 gets a 30 s retry-after marked as the
    proxy's default, with no made-up limit or remaining, and the façade's tool error reads it."""
    await inject(emulator, "/teams", "status", status=429)
    error = await _fails(stub, account.id, "list_teams")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(error.trailing_metadata() or ())
    assert trailers["retry-after"] == "30" and trailers["retry-after-source"] == "default"
    assert not {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit"} & set(trailers)
    (retry,) = _unpack(error, error_details_pb2.RetryInfo)
    assert retry.retry_delay.seconds == 30
    (upstream,) = _unpack(error, pb.UpstreamError)
    limits = upstream.rate_limit
    assert (limits.limit, limits.remaining, limits.retry_after_seconds) == (-1, -1, 30)
    assert "proxy's default" in (error.details() or "")
    structured = rpc_error_result(error, tool="list_all_gumloop_teams")["structuredContent"]
    assert structured["error"] == "rate_limited"
    assert structured["retry_after_seconds"] == 30
    assert structured["limit"] is None and structured["remaining"] is None


async def test_a_2xx_answer_with_a_rate_limit_count_above_int64_is_not_lost(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """`X-RateLimit-Remaining: 99999999999999999999` on a good answer made to_proto raise (INTERNAL)."""
    await inject(
        emulator, "/teams", "latency", latency_ms=0, headers={"X-RateLimit-Remaining": "99999999999999999999"}
    )
    response, body = await invoke(stub, account.id, "list_teams", {})
    assert response.http_status == 200 and "teams" in body
    assert response.rate_limit.remaining == MAX_VALUE and response.rate_limit.limit == -1


async def test_zero_padded_rate_limit_headers_are_read_on_a_200_and_a_429(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """5001 leading zeros made int() raise ValueError (its 4300-digit limit): INTERNAL on every answer."""
    padded = {"X-RateLimit-Remaining": "0" * 5001 + "7", "Retry-After": "0" * 5001 + "12"}
    await inject(emulator, "/teams", "latency", latency_ms=0, headers=padded, count=1)
    response, body = await invoke(stub, account.id, "list_teams", {})
    assert response.http_status == 200 and "teams" in body
    assert response.rate_limit.remaining == 7 and response.rate_limit.retry_after_seconds == 12
    await inject(emulator, "/teams", "status", status=429, headers=padded)
    error = await _fails(stub, account.id, "list_teams")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    trailers = dict(error.trailing_metadata() or ())
    assert trailers["ratelimit-remaining"] == "7" and trailers["retry-after"] == "12"


async def test_the_emulators_own_concurrency_429_reaches_the_caller(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """Starting more agent sessions than the plan allows ends in RESOURCE_EXHAUSTED, never a retry."""
    _, agents = await invoke(stub, account.id, "list_agents", {})
    agent_id = agents["agents"][0]["id"]
    for index in range(60):
        try:
            await invoke(stub, account.id, "create_session", {"agent_id": agent_id, "input": f"job {index}"})
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
            (upstream,) = _unpack(error, pb.UpstreamError)
            assert upstream.http_status == 429
            return
    pytest.fail("the emulator never refused a session for concurrency")


async def test_a_wrong_api_key_is_unauthenticated(stub: pb_grpc.ProxyServiceStub, emulator: Any) -> None:
    """Upstream 401 becomes UNAUTHENTICATED with the envelope in details, and the key is not echoed."""
    wrong = await create_account(stub, emulator, secret="gl-wrong-key-123")
    error = await _fails(stub, wrong.id, "list_agents")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _unpack(error, pb.UpstreamError)[0].http_status == 401
    assert "gl-wrong-key-123" not in (error.details() or "")


async def test_an_unknown_resource_is_not_found(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """Upstream 404 becomes NOT_FOUND."""
    error = await _fails(stub, account.id, "get_agent", {"agent_id": "no-such-agent"})
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert _unpack(error, pb.UpstreamError)[0].http_status == 404


async def test_latency_beyond_the_callers_deadline_is_deadline_exceeded(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """A slow upstream never outlives the caller's deadline."""
    await inject(emulator, "/teams", "latency", latency_ms=5000)
    error = await _fails(stub, account.id, "list_teams", timeout=0.5)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.parametrize(
    ("kind", "fields", "code"),
    [
        ("status", {"status": 503}, grpc.StatusCode.UNAVAILABLE),
        ("status", {"status": 502}, grpc.StatusCode.UNAVAILABLE),
        ("reset", {}, grpc.StatusCode.UNAVAILABLE),
        ("malformed", {}, grpc.StatusCode.DATA_LOSS),
    ],
)
async def test_injected_faults_become_clear_errors(
    kind: str,
    fields: dict[str, Any],
    code: grpc.StatusCode,
    stub: pb_grpc.ProxyServiceStub,
    account: pb.IntegratedAccount,
    emulator: Any,
) -> None:
    """5xx, connection resets and malformed bodies each end in a fitting code, never a hang."""
    await inject(emulator, "/teams", kind, **fields)
    error = await _fails(stub, account.id, "list_teams", timeout=10)
    assert error.code() == code, error.details()
    assert _unpack(error, pb.UpstreamError)[0].operation == "list_teams"
    if kind == "malformed":
        assert "malformed" in (error.details() or "")


async def test_bad_arguments_are_refused_before_going_upstream(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """Bad JSON, unknown arguments, missing required ones and wrong types name their fields."""
    for raw, expected in [
        ("{oops", "arguments_json"),
        ('{"agent_id": 7}', "agent_id"),
        ('{"agent_id": "a", "colour": "red"}', "colour"),
        ("{}", "agent_id"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.InvokeOperation(
                pb.InvokeOperationRequest(account_id=account.id, operation="get_agent", arguments_json=raw),
                timeout=5,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert expected in dict(field_violations(caught.value)), raw


@pytest.mark.parametrize(
    ("operation", "raw", "expected"),
    [
        (
            "create_chat_completion",
            '{"model": "m", "messages": [{"role": "user"}], "temperature": NaN}',
            "temperature",
        ),
        (
            "create_chat_completion",
            '{"model": "m", "messages": [{"role": "user", "n": 1e999}]}',
            "messages[0].n",
        ),
        ("get_agent", '{"agent_id": "a\\ud800"}', "agent_id"),
        ("create_session", '{"agent_id": "a", "metadata": {"k": "\\udc00"}}', "metadata.k"),
    ],
)
async def test_arguments_no_json_encoder_can_send_are_invalid_argument_not_internal(
    operation: str, raw: str, expected: str, stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """NaN/Infinity and lone surrogates pass json.loads and the schema, then broke request encoding."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.InvokeOperation(
            pb.InvokeOperationRequest(account_id=account.id, operation=operation, arguments_json=raw),
            timeout=5,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert expected in dict(field_violations(caught.value)), raw


async def test_unknown_operation_and_account_are_not_found(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """Names that do not exist are NOT_FOUND."""
    assert (await _fails(stub, account.id, "no_such_operation")).code() == grpc.StatusCode.NOT_FOUND
    assert (await _fails(stub, "acct_missing", "list_teams")).code() == grpc.StatusCode.NOT_FOUND


async def test_validate_only_stops_before_upstream(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """validate_only answers without calling upstream (an injected 503 is not hit)."""
    await inject(emulator, "/teams", "status", status=503)
    response, body = await invoke(stub, account.id, "list_teams", {}, validate_only=True)
    assert response.http_status == 0 and body is None


async def test_idempotency_keys_replay_and_refuse_other_arguments(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """Same key + same arguments replays; same key + other arguments is FAILED_PRECONDITION."""
    _, agents = await invoke(stub, account.id, "list_agents", {})
    agent_id = agents["agents"][0]["id"]
    first, body = await invoke(
        stub, account.id, "create_session", {"agent_id": agent_id}, idempotency_key="k-1"
    )
    again, body_again = await invoke(
        stub, account.id, "create_session", {"agent_id": agent_id}, idempotency_key="k-1"
    )
    assert not first.idempotent_replay and again.idempotent_replay
    assert body_again["session"]["id"] == body["session"]["id"]
    error = await _fails(
        stub, account.id, "create_session", {"agent_id": agent_id, "name": "x"}, idempotency_key="k-1"
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "idempotency key" in (error.details() or "")
    assert json.loads(first.body_json)["session"]["id"]


async def test_an_integral_float_retried_as_an_integer_replays_under_its_key(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """5.0 and 5 are one integer argument (both go upstream as 5): the same key replays, not refuses."""
    chat = {"model": "anthropic/claude-sonnet-4", "messages": [{"role": "user", "content": "Say hi"}]}
    first, body = await invoke(
        stub, account.id, "create_chat_completion", {**chat, "max_completion_tokens": 5.0},
        idempotency_key="k-float",
    )  # fmt: skip
    again, body_again = await invoke(
        stub, account.id, "create_chat_completion", {**chat, "max_completion_tokens": 5},
        idempotency_key="k-float",
    )  # fmt: skip
    assert not first.idempotent_replay and again.idempotent_replay
    assert body_again == body
    error = await _fails(
        stub, account.id, "create_chat_completion", {**chat, "max_completion_tokens": 6},
        idempotency_key="k-float",
    )  # fmt: skip
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_account_recreated_under_the_same_id_never_replays_the_old_accounts_answers(
    stub: pb_grpc.ProxyServiceStub, emulator: Any
) -> None:
    """Idempotency keys belong to one account incarnation: delete + create with that id starts afresh."""
    first_account = await create_account(stub, emulator, id="acc_reused")
    _, agents = await invoke(stub, first_account.id, "list_agents", {})
    arguments = {"agent_id": agents["agents"][0]["id"]}
    first, body = await invoke(stub, first_account.id, "create_session", arguments, idempotency_key="k-1")
    await stub.DeleteIntegratedAccount(pb.DeleteIntegratedAccountRequest(account_id="acc_reused"), timeout=10)
    second_account = await create_account(stub, emulator, id="acc_reused")
    again, body_again = await invoke(
        stub, second_account.id, "create_session", arguments, idempotency_key="k-1"
    )
    assert not first.idempotent_replay and not again.idempotent_replay
    assert body_again["session"]["id"] != body["session"]["id"]


async def test_the_older_endpoints_error_forms_reach_the_caller_with_code_message_and_metadata(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """The emulator answers as Gumloop does per endpoint family: get_pl_run's flat {error: code, message,
    metadata} keeps all three (metadata as details_json); start_agent's bare string is the code and the
    message; the v1 envelope is unchanged."""
    flat = await _fails(stub, account.id, "get_pl_run", {"run_id": "run_nope"})
    assert flat.code() == grpc.StatusCode.NOT_FOUND
    (upstream,) = _unpack(flat, pb.UpstreamError)
    assert upstream.code == "not_found" and upstream.message == "run 'run_nope' not found"
    assert upstream.http_status == 404 and upstream.operation == "get_pl_run"
    bare = await _fails(stub, account.id, "start_agent", {"gummie_id": "gummie_nope", "message": "hi"})
    assert bare.code() == grpc.StatusCode.NOT_FOUND
    (upstream,) = _unpack(bare, pb.UpstreamError)
    assert (upstream.code, upstream.message) == ("gummie_not_found", "gummie_not_found")
    nested = await _fails(stub, account.id, "get_agent", {"agent_id": "agent_nope"})
    (upstream,) = _unpack(nested, pb.UpstreamError)
    assert upstream.code == "not_found" and upstream.type == "invalid_request_error"


async def test_a_flat_error_keeps_its_metadata_as_details(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, emulator: Any
) -> None:
    """An injected flat PublicError (as Gumloop's older endpoints send) keeps code, message and metadata."""
    body = {"error": "tier_required_pro", "message": "Needs Pro", "metadata": {"minimum_tier": "pro"}}
    await inject(emulator, "/list_saved_items", "status", status=403, body=body)
    error = await _fails(stub, account.id, "list_saved_items")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    (upstream,) = _unpack(error, pb.UpstreamError)
    assert (upstream.code, upstream.message) == ("tier_required_pro", "Needs Pro")
    assert json.loads(upstream.details_json) == {"minimum_tier": "pro"}
