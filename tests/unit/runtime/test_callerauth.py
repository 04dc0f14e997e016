"""Caller tokens: parsing, the server interceptor's decisions, constant-time comparison, logging."""

from __future__ import annotations

import hmac
import io
import json
import logging
from typing import Any

import grpc
import pytest

from gumloop_mcp.runtime import CallerAuthInterceptor, CallerTokens, caller_var, configure, is_loopback_host
from gumloop_mcp.runtime._grpc_server import caller_auth

FACADE = "facade-token-0123456789abcdef"
TOKENS = "tokens-token-0123456789abcdef"
INVOKE = "/gumloop_mcp.proxy.v1.ProxyService/InvokeOperation"


class Details:
    """A grpc.HandlerCallDetails stand-in."""

    def __init__(self, method: str, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.method = method
        self.invocation_metadata = metadata


class Aborted(Exception):
    """What the fake context raises from abort()."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Context:
    """A ServicerContext stand-in recording abort()."""

    async def abort(self, code: grpc.StatusCode, message: str) -> None:
        raise Aborted(code, message)


class Continuation:
    """Returns the real handler and records the caller name visible while the call is routed."""

    def __init__(self, *, streaming: bool = False) -> None:
        self.seen_callers: list[str] = []

        async def behaviour(request: Any, context: Any) -> str:
            logging.getLogger("test.callerauth.handler").info("handled %s", request)
            return "ok"

        self.handler = (
            grpc.unary_stream_rpc_method_handler(behaviour)
            if streaming
            else grpc.unary_unary_rpc_method_handler(behaviour)
        )

    async def __call__(self, details: Any) -> grpc.RpcMethodHandler:
        self.seen_callers.append(caller_var.get())
        return self.handler


class ListHandler(logging.Handler):
    """Keeps every record's rendered message and extra fields, unredacted."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


def _interceptor() -> CallerAuthInterceptor:
    return CallerAuthInterceptor(CallerTokens.parse(f"facade={FACADE}, tokens={TOKENS}"), "proxy")


async def _refusal(details: Details) -> Aborted:
    continuation = Continuation()
    handler = await _interceptor().intercept_service(continuation, details)
    assert handler is not continuation.handler
    with pytest.raises(Aborted) as refused:
        await handler.unary_unary(b"", Context())
    return refused.value


def test_parse_reads_comma_whitespace_and_json_lists_and_keeps_repeated_names() -> None:
    """Both formats yield the same callers; a repeated name (rotation) keeps both tokens valid."""
    listed = CallerTokens.parse(f"facade={FACADE},\n tokens={TOKENS} facade={FACADE}-next")
    as_json = CallerTokens.parse(
        json.dumps([f"facade={FACADE}", f"tokens={TOKENS}", f"facade={FACADE}-next"])
    )
    for callers in (listed, as_json):
        assert callers.names == ["facade", "tokens"]
        assert len(callers) == 3
        assert callers.identify(FACADE) == "facade"
        assert callers.identify(f"{FACADE}-next") == "facade"
        assert callers.identify(TOKENS) == "tokens"
        assert callers.identify("facade-token-0123456789abcdeX") is None
    assert not CallerTokens.parse("") and not CallerTokens.parse(None) and not CallerTokens.parse("  ")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("facade", "entry 1 is not"),
        ("facade=short", "at least 16"),
        ("=tok-0123456789abcdef", "entry 1 is not"),
        ("bad name!=tok-0123456789abcdef", "is not"),
        ("[not json", "not a valid JSON list"),
        ('{"facade": "tok-0123456789abcdef"}', "entry 1 is not"),
        ("[1, 2]", "list of"),
        ("bad/name=tok-0123456789abcdef", "caller name"),
    ],
)
def test_parse_refuses_malformed_lists_without_echoing_tokens(text: str, complaint: str) -> None:
    """A malformed entry is a ValueError that says what is wrong and never contains the token."""
    with pytest.raises(ValueError, match="caller") as refused:
        CallerTokens.parse(text)
    assert complaint in str(refused.value)
    assert "0123456789abcdef" not in str(refused.value)
    assert "short" not in str(refused.value)


async def test_a_valid_token_passes_and_names_the_caller_for_the_call() -> None:
    """With a known bearer token the real handler runs, and caller_var holds the caller's name."""
    continuation = Continuation()
    handler = await _interceptor().intercept_service(
        continuation, Details(INVOKE, (("authorization", f"Bearer {TOKENS}"),))
    )
    assert handler is continuation.handler
    assert continuation.seen_callers == ["tokens"]
    assert caller_var.get() == "tokens"
    caller_var.set("")


async def test_the_bearer_scheme_is_case_insensitive() -> None:
    """`bearer <token>` is accepted like `Bearer <token>` (RFC 6750 schemes are case-insensitive)."""
    continuation = Continuation()
    handler = await _interceptor().intercept_service(
        continuation, Details(INVOKE, (("authorization", f"bearer {FACADE}"),))
    )
    assert handler is continuation.handler
    caller_var.set("")


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "missing authorization metadata"),
        ((("authorization", "Bearer wrong-token-0123456789abcdef"),), "unknown caller token"),
        ((("authorization", f"Basic {FACADE}"),), "is not 'Bearer <caller token>'"),
        ((("authorization", FACADE),), "is not 'Bearer <caller token>'"),
        ((("x-caller-token", FACADE),), "missing authorization metadata"),
        ((("authorization", f"Bearer {FACADE}"), ("authorization", "Bearer x")), "more than one"),
    ],
)
async def test_missing_wrong_or_misformed_credentials_are_unauthenticated(
    metadata: tuple[tuple[str, str], ...], reason: str
) -> None:
    """Every call without exactly one known bearer token ends UNAUTHENTICATED with the reason."""
    refused = await _refusal(Details(INVOKE, metadata))
    assert refused.code == grpc.StatusCode.UNAUTHENTICATED
    assert reason in refused.message
    assert "proxy requires a caller token" in refused.message
    assert FACADE not in refused.message
    assert "wrong-token" not in refused.message


async def test_a_refused_streaming_call_gets_a_streaming_handler_that_aborts() -> None:
    """A server-streaming RPC without a token gets a unary-stream handler that ends UNAUTHENTICATED."""
    continuation = Continuation(streaming=True)
    handler = await _interceptor().intercept_service(continuation, Details("/x.Tokens/Watch"))
    assert handler.response_streaming and not handler.request_streaming
    with pytest.raises(Aborted) as refused:
        await handler.unary_stream(b"", Context())
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "method",
    [
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ],
)
async def test_health_and_reflection_stay_open_without_metadata(method: str) -> None:
    """Kubernetes' gRPC probes and grpcurl send no metadata: those methods pass untouched."""
    continuation = Continuation()
    assert await _interceptor().intercept_service(continuation, Details(method)) is continuation.handler


async def test_an_open_prefix_in_the_middle_of_a_method_name_does_not_open_it() -> None:
    """Only a method that starts with the health/reflection service path is exempt."""
    refused = await _refusal(Details("/evil.Service/grpc.health.v1.Health/Check"))
    assert refused.code == grpc.StatusCode.UNAUTHENTICATED


async def test_tokens_are_compared_as_equal_length_digests_with_every_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """hmac.compare_digest sees 32-byte digests, once per known token, even when the first matches."""
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    callers = CallerTokens.parse(f"facade={FACADE},tokens={TOKENS},cli=cli-token-0123456789abcdef")
    assert callers.identify(FACADE) == "facade"
    assert calls == [(32, 32)] * 3
    calls.clear()
    assert callers.identify("x") is None
    assert calls == [(32, 32)] * 3


async def test_the_caller_name_is_logged_with_the_call_and_no_token_ever_is() -> None:
    """JSON log lines of an accepted call carry `caller`; neither accepted nor refused tokens appear."""
    stream = io.StringIO()
    configure("DEBUG", json_format=True, stream=stream, batch_s=0)
    # Added first, so it sees each record before the redacting filter rewrites it.
    raw_log = ListHandler()
    logging.getLogger().handlers.insert(0, raw_log)
    try:
        continuation = Continuation()
        interceptor = _interceptor()
        handler = await interceptor.intercept_service(
            continuation, Details(INVOKE, (("authorization", f"Bearer {FACADE}"),))
        )
        assert await handler.unary_unary("request-1", Context()) == "ok"
        wrong = "never-valid-0123456789abcdef"
        await _refusal(Details(INVOKE, (("authorization", f"Bearer {wrong}"),)))
        await _refusal(Details(INVOKE, (("authorization", f"Token {FACADE}"),)))
    finally:
        logging.getLogger().handlers.clear()
        caller_var.set("")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    handled = [line for line in lines if line["message"] == "handled request-1"]
    assert handled and handled[0]["caller"] == "facade"
    refusals = [line for line in lines if line["message"].startswith("refused ")]
    assert [line["level"] for line in refusals] == ["WARNING", "WARNING"]
    assert INVOKE in refusals[0]["message"] and "unknown caller token" in refusals[0]["message"]
    assert "caller" not in refusals[0]
    everything = stream.getvalue() + "\n".join(raw_log.lines)
    for secret in (FACADE, wrong, TOKENS):
        assert secret not in everything
    assert len(raw_log.lines) >= 3


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("proxy.internal", False),
    ],
)
def test_loopback_hosts_are_recognised(host: str, loopback: bool) -> None:
    """Only addresses that accept local connections alone count as loopback (no open-mode warning)."""
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("host", "warned"), [("0.0.0.0", True), ("10.1.2.3", True), ("127.0.0.1", False), ("::1", False)]
)
def test_an_open_server_warns_unless_bound_to_loopback(
    caplog: pytest.LogCaptureFixture, host: str, warned: bool
) -> None:
    """No caller tokens: no interceptor, and a WARNING naming the setting when reachable from outside."""
    with caplog.at_level(logging.INFO, logger="gumloop_mcp.runtime"):
        assert (
            caller_auth(
                CallerTokens(), host=host, service_label="proxy", caller_setting="GMCP_PROXY_CALLER_TOKENS"
            )
            is None
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if warned:
        assert len(warnings) == 1
        assert "NO caller tokens" in warnings[0] and "GMCP_PROXY_CALLER_TOKENS" in warnings[0]
    else:
        assert warnings == []


def test_a_server_with_callers_gets_the_interceptor_and_logs_only_their_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With callers the interceptor is returned; the start-up line names callers, not tokens."""
    with caplog.at_level(logging.INFO, logger="gumloop_mcp.runtime"):
        auth = caller_auth(CallerTokens.parse(f"facade={FACADE}"), host="0.0.0.0", service_label="proxy")
    assert isinstance(auth, CallerAuthInterceptor)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "facade" in text and FACADE not in text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_caller_refusal_is_told_apart_from_an_rpcs_own_unauthenticated() -> None:
    """Only the interceptor's refusal counts; an UNAUTHENTICATED answer of the RPC itself does not."""
    from gumloop_mcp.runtime import is_caller_refusal

    def rpc_error(code: grpc.StatusCode, message: str) -> grpc.aio.AioRpcError:
        return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), message, None)

    assert is_caller_refusal(
        rpc_error(grpc.StatusCode.UNAUTHENTICATED, "x requires a caller token (missing)")
    )
    assert not is_caller_refusal(rpc_error(grpc.StatusCode.UNAUTHENTICATED, "Gumloop answered 401"))
    assert not is_caller_refusal(rpc_error(grpc.StatusCode.NOT_FOUND, "x requires a caller token"))


def test_loopback_hosts_are_parsed_as_addresses_not_matched_by_prefix() -> None:
    """127.x and ::1 literals and localhost are loopback; 127.attacker.example is a DNS name."""
    from gumloop_mcp.runtime import is_loopback_host

    assert all(
        is_loopback_host(h) for h in ("127.0.0.1", "127.9.9.9", "[::1]", "::1", "LOCALHOST", " localhost ")
    )
    assert not any(
        is_loopback_host(h) for h in ("127.attacker.example", "0.0.0.0", "10.0.0.1", "example.com")
    )
