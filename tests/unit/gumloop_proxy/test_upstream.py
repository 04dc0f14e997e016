"""The upstream client: errors, retries only where safe, per-account concurrency, deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from services.gumloop_proxy import errors
from services.gumloop_proxy.requests import UpstreamRequest
from services.gumloop_proxy.settings import ProxySettings
from services.gumloop_proxy.status import to_status
from services.gumloop_proxy.upstream import Upstream

SETTINGS = ProxySettings(request_timeout_s=5, connect_timeout_s=1, default_account_concurrency=2)


def _upstream(handler: object) -> Upstream:
    return Upstream(SETTINGS, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def _get(url: str = "http://127.0.0.1:9/api/v1/agents") -> UpstreamRequest:
    return UpstreamRequest(method="GET", url=url, headers={"authorization": "Bearer k"})


async def _send(upstream: Upstream, request: UpstreamRequest, **kwargs: object) -> object:
    options: dict[str, object] = {"account_id": "a", "max_concurrency": 0, "operation": "op", **kwargs}
    return await upstream.send(request, **options)  # type: ignore[arg-type]


async def test_a_json_answer_comes_back_with_only_useful_headers() -> None:
    """Status, body and lower-cased headers; cookies never pass."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(
            200,
            json={"agents": []},
            headers={"Set-Cookie": "s=1", "X-Request-Id": "r1", "RateLimit-Limit": "10"},
        )

    upstream = _upstream(handler)
    response = await _send(upstream, _get())
    await upstream.close()
    assert response.status == 200 and json.loads(response.content) == {"agents": []}  # type: ignore[attr-defined]
    assert response.headers == {  # type: ignore[attr-defined]
        "content-type": "application/json",
        "content-length": "13",
        "x-request-id": "r1",
        "ratelimit-limit": "10",
    }


async def test_a_cookie_set_by_one_answer_is_never_sent_on_a_later_request() -> None:
    """The pooled client serves every account: no cookie jar carries state from one call to the next."""
    cookies_seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies_seen.append(request.headers.get("cookie"))
        return httpx.Response(200, json={}, headers={"Set-Cookie": "session=account-a; Path=/"})

    upstream = _upstream(handler)
    await _send(upstream, _get())
    await _send(upstream, _get(), account_id="b")
    await upstream.close()
    assert cookies_seen == [None, None]


async def test_idempotent_gets_are_retried_twice_after_503_then_succeed() -> None:
    """Two 503s then a 200: the caller sees the 200."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503 if calls < 3 else 200, json={"ok": calls})

    upstream = _upstream(handler)
    response = await _send(upstream, _get(), retry_safe=True)
    await upstream.close()
    assert calls == 3 and response.status == 200  # type: ignore[attr-defined]


async def test_posts_and_429s_are_never_retried() -> None:
    """A POST 503 fails at once; a 429 fails at once even for a GET, with its rate limit parsed."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if request.method == "POST":
            return httpx.Response(503, text="busy")
        return httpx.Response(
            429,
            json={"error": {"code": "rate_limited", "message": "slow down", "type": "rate_limit_error"}},
            headers={"Retry-After": "7", "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0"},
        )

    upstream = _upstream(handler)
    with pytest.raises(errors.UpstreamUnavailable) as unavailable:
        await _send(upstream, UpstreamRequest(method="POST", url="http://127.0.0.1:9/x", json_body={}))
    assert unavailable.value.http_status == 503 and unavailable.value.message == "busy"
    with pytest.raises(errors.UpstreamRateLimited) as limited:
        await _send(upstream, _get(), retry_safe=True)
    await upstream.close()
    assert calls == 2
    assert limited.value.code == "rate_limited" and limited.value.message == "slow down"
    assert limited.value.rate_limit is not None
    assert limited.value.rate_limit.to_proto().retry_after_seconds == 7


ERROR_FORMS = [
    # (status, answer, (code, message, param, details)) for every form Gumloop answers errors in.
    (
        409,
        {"json": {"error": {"code": "session_already_exists", "message": "m", "param": "session_id",
                            "details": {"x": 1}}}},
        ("session_already_exists", "m", "session_id", {"x": 1}),
    ),
    (  # the flat PublicError of the older endpoints: code, message and metadata are all kept
        404,
        {"json": {"error": "run_not_found", "message": "Run 'r1' not found",
                  "metadata": {"run_id": "r1", "param": "run_id"}}},
        ("run_not_found", "Run 'r1' not found", "run_id", {"run_id": "r1", "param": "run_id"}),
    ),
    (  # flat without metadata: extra top-level keys are the context (tier denials)
        403,
        {"json": {"error": "tier_required_pro", "message": "Upgrade", "minimum_tier": "pro"}},
        ("tier_required_pro", "Upgrade", "", {"minimum_tier": "pro"}),
    ),
    (  # OAuth's RFC form
        401,
        {"json": {"error": "invalid_token", "error_description": "expired"}},
        ("invalid_token", "expired", "", {}),
    ),
    (
        404,
        {"json": {"error": "interaction_not_found"}},
        ("interaction_not_found", "interaction_not_found", "", {}),
    ),
    # bare strings, JSON or text: a code when it reads as one
    (404, {"json": "gummie_not_found"}, ("gummie_not_found", "gummie_not_found", "", {})),
    (404, {"text": "gummie_not_found"}, ("gummie_not_found", "gummie_not_found", "", {})),
    (400, {"text": "gummie_id is required"}, ("", "gummie_id is required", "", {})),
    (400, {"text": "plain failure"}, ("", "plain failure", "", {})),
    (500, {"json": {"detail": "boom"}}, ("", "boom", "", {})),
]  # fmt: skip


@pytest.mark.parametrize(("status", "answer", "expected"), ERROR_FORMS)
async def test_every_gumloop_error_form_keeps_its_code_message_param_and_details(
    status: int, answer: dict[str, object], expected: tuple[str, str, str, dict[str, object]]
) -> None:
    """The v1 envelope, the flat {error: code, message, metadata}, OAuth's error_description and bare
    strings (JSON or text) each keep what they carry."""
    upstream = _upstream(lambda request: httpx.Response(status, **answer))  # type: ignore[arg-type]
    with pytest.raises(errors.UpstreamError) as caught:
        await _send(upstream, _get())
    await upstream.close()
    error = caught.value
    assert error.http_status == status
    assert (error.code, error.message, error.param, error.details) == expected


async def test_connection_failures_and_timeouts_are_classified() -> None:
    """A reset becomes UpstreamUnavailable, a read timeout UpstreamTimeout."""

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    upstream = _upstream(reset)
    with pytest.raises(errors.UpstreamUnavailable, match="RemoteProtocolError"):
        await _send(upstream, _get(), retry_safe=True)
    await upstream.close()
    upstream = _upstream(slow)
    with pytest.raises(errors.UpstreamTimeout):
        await _send(upstream, _get())
    await upstream.close()


async def test_a_spent_deadline_fails_before_going_upstream() -> None:
    """No request is sent once the caller's deadline has passed."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200)

    upstream = _upstream(handler)
    with pytest.raises(errors.UpstreamTimeout, match="deadline"):
        await _send(upstream, _get(), deadline=time.monotonic() - 1)
    await upstream.close()
    assert calls == 0


async def test_requests_per_account_are_bounded_by_its_concurrency() -> None:
    """With max_concurrency 2, a third request waits until one finishes; other accounts are not held up."""
    slow_in_flight = 0
    two_in = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal slow_in_flight
        if request.url.path == "/slow":
            slow_in_flight += 1
            if slow_in_flight == 2:
                two_in.set()
            await release.wait()
            slow_in_flight -= 1
        return httpx.Response(200, json={})

    upstream = _upstream(handler)
    slow = [
        asyncio.create_task(_send(upstream, _get("http://127.0.0.1:9/slow"), max_concurrency=2))
        for _ in range(3)
    ]
    await asyncio.wait_for(two_in.wait(), 5)
    other = await asyncio.wait_for(_send(upstream, _get("http://127.0.0.1:9/fast"), account_id="b"), 5)
    assert other.status == 200  # type: ignore[attr-defined]
    assert slow_in_flight == 2  # the third request of account a is still queued
    release.set()
    await asyncio.wait_for(asyncio.gather(*slow), 5)
    await upstream.close()


async def test_an_answer_above_max_response_bytes_is_refused_declared_streamed_or_decoded() -> None:
    """A body past the ceiling (by Content-Length, by its bytes, or once gunzipped) is UpstreamTooLarge."""
    import gzip

    settings = ProxySettings(request_timeout_s=5, connect_timeout_s=1, max_response_bytes=1000)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(2):
            yield b"y" * 600

    bodies = {
        "/declared": httpx.Response(200, content=b"x" * 2000),
        "/chunked": httpx.Response(200, content=chunks()),
        "/bomb": httpx.Response(
            200, content=gzip.compress(b"z" * 50_000), headers={"content-encoding": "gzip"}
        ),
        "/fits": httpx.Response(200, json={"ok": "a" * 900}),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return bodies[request.url.path]

    upstream = Upstream(settings, transport=httpx.MockTransport(handler))
    for path in ("/declared", "/chunked", "/bomb"):
        with pytest.raises(errors.UpstreamTooLarge, match="larger than 1000 bytes"):
            await _send(upstream, _get(f"http://127.0.0.1:9{path}"))
    answer = await _send(upstream, _get("http://127.0.0.1:9/fits"))
    assert json.loads(answer.content) == {"ok": "a" * 900}  # type: ignore[attr-defined]
    await upstream.close()


async def test_an_error_answer_quoting_the_credential_never_carries_it_back() -> None:
    """Message, code, param and details of an error envelope (and a plain-text body) lose the key."""
    key = "sk-live-0123456789abcdef"
    answers = [
        {
            "error": {
                "code": f"bad_key_{key}",
                "message": f"Invalid API key: {key}",
                "param": key,
                "details": {"received": {"authorization": f"Bearer {key}"}, "list": [key]},
            }
        },
        f"<html>debug: Authorization: Bearer {key}</html>",
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers[int(request.url.params["n"])]
        if isinstance(answer, str):
            return httpx.Response(401, text=answer)
        return httpx.Response(401, json=answer)

    upstream = _upstream(handler)
    for n in range(len(answers)):
        request = UpstreamRequest(
            method="GET",
            url="http://127.0.0.1:9/api/v1/agents",
            params=[("n", str(n))],
            headers={"authorization": f"Bearer {key}"},
        )
        with pytest.raises(errors.UpstreamError) as caught:
            await _send(upstream, request)
        error = caught.value
        shown = json.dumps([str(error), error.message, error.code, error.param, error.details])
        assert key not in shown and "[REDACTED]" in shown
        with pytest.raises(errors.UpstreamError) as streamed:
            async with upstream.stream(request, account_id="a", max_concurrency=0, operation="op"):
                pass
        assert key not in json.dumps([str(streamed.value), streamed.value.message, streamed.value.details])
    await upstream.close()


async def test_a_connection_failure_names_its_kind_but_not_internal_addresses() -> None:
    """Callers (ultimately a model) learn the failure kind; the host and port stay in the proxy's log."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Cannot connect to host 10.1.2.3:8443 ssl:default [Connection refused]")

    def guarded(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refusing to connect to 169.254.169.254: a link-local address")

    upstream = _upstream(refused)
    with pytest.raises(errors.UpstreamUnavailable) as caught:
        await _send(upstream, _get())
    assert "ConnectError" in str(caught.value) and "10.1.2.3" not in str(caught.value)
    with pytest.raises(errors.UpstreamUnavailable) as streamed:
        async with upstream.stream(_get(), account_id="a", max_concurrency=0, operation="op"):
            pass
    assert "10.1.2.3" not in str(streamed.value)
    await upstream.close()
    upstream = _upstream(guarded)
    with pytest.raises(errors.UpstreamUnavailable, match="egress guard refused"):
        await _send(upstream, _get())
    await upstream.close()


async def test_an_error_body_nested_past_the_decoders_depth_is_kept_as_text() -> None:
    """A hostile upstream's nesting bomb is an UpstreamError with a text message, not a RecursionError."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=b"[" * 5000, headers={"content-type": "application/json"})

    upstream = _upstream(handler)
    with pytest.raises(errors.UpstreamError) as caught:
        await _send(upstream, _get())
    await upstream.close()
    assert caught.value.http_status == 400 and caught.value.message.startswith("[[[")


async def test_a_stream_gives_its_concurrency_slot_back_once_headers_arrive_or_it_fails() -> None:
    """Open, refused (429) and failed streams all leave the account's slot free for other calls."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/limited"):
            return httpx.Response(429, json={"error": {"code": "rate_limited", "message": "slow"}})
        if request.url.path.endswith("/broken"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=b"data: x\n\n", headers={"content-type": "text/event-stream"})

    upstream = _upstream(handler)
    try:
        async with upstream.stream(_get(), account_id="a", max_concurrency=1, operation="op") as response:
            assert response.status_code == 200
            # The stream is open: another call on the account is not queued behind it.
            answer = await asyncio.wait_for(_send(upstream, _get(), max_concurrency=1), 2)
            assert answer.status == 200  # type: ignore[attr-defined]
        for path, error in (
            ("/limited", errors.UpstreamRateLimited),
            ("/broken", errors.UpstreamUnavailable),
        ):
            with pytest.raises(error):
                async with upstream.stream(
                    _get("http://127.0.0.1:9" + path), account_id="a", max_concurrency=1, operation="op"
                ):
                    pass
        semaphore = upstream._semaphore("a", 1)
        assert not semaphore.locked()
    finally:
        await upstream.close()


async def test_open_streams_per_account_are_bounded_for_their_whole_life() -> None:
    """With the unary slot given back at headers nothing bounded open streams (50 opened with
    max_concurrency 1): one account could hold the whole pool for stream_timeout_s. The N+1th stream
    of an account is refused before going upstream; other accounts and unary calls are not held up."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, content=b"data: x\n\n", headers={"content-type": "text/event-stream"})

    settings = SETTINGS.model_copy(update={"max_open_streams_per_account": 2})
    upstream = Upstream(settings, transport=httpx.MockTransport(handler))

    def stream(account: str, path: str = "/s") -> contextlib.AbstractAsyncContextManager[httpx.Response]:
        return upstream.stream(
            _get("http://127.0.0.1:9" + path), account_id=account, max_concurrency=1, operation="op"
        )

    try:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(2):
                await held.enter_async_context(stream("a"))
            with pytest.raises(errors.TooManyStreams, match="max_open_streams_per_account"):
                async with stream("a", "/refused"):
                    pass
            assert "/refused" not in sent
            async with stream("b") as other:
                assert other.status_code == 200
            answer = await asyncio.wait_for(_send(upstream, _get(), max_concurrency=1), 2)
            assert answer.status == 200  # type: ignore[attr-defined]
        async with stream("a") as again:
            assert again.status_code == 200  # the closed streams gave their places back
        assert upstream._open_streams == {}
    finally:
        await upstream.close()


def test_too_many_streams_is_resource_exhausted() -> None:
    """The proxy's own bound, not Gumloop's: RESOURCE_EXHAUSTED with the setting named."""
    status = to_status(errors.TooManyStreams("the account already has 8 streams open"))
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "8 streams open" in status.details
