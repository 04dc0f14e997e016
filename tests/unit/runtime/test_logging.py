"""The redacting log filter keeps secrets out of every log line."""

import io
import json
import logging

from gumloop_mcp.runtime import TokenKind, configure, generate_token


def test_tokens_in_messages_args_and_paths_are_redacted() -> None:
    """A token passed as an argument, inside a path, or as a bearer value never reaches the output."""
    stream = io.StringIO()
    configure("DEBUG", json_format=True, stream=stream)
    token = generate_token(TokenKind.MCP_URL)
    log = logging.getLogger("test.redaction")
    log.info("resolving %s", token)
    log.info("POST /mcp/%s HTTP/1.1", token)
    log.warning("Authorization: Bearer %s", "sk-live-abcdefgh12345678")
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        log.exception("failed")
    output = stream.getvalue()
    assert token not in output
    assert "sk-live-abcdefgh12345678" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[1]["message"] == "POST /mcp/[REDACTED] HTTP/1.1"
    assert lines[0]["level"] == "INFO"
    logging.getLogger().handlers.clear()


def _capture() -> tuple[io.StringIO, logging.Logger]:
    stream = io.StringIO()
    configure("DEBUG", json_format=True, stream=stream, batch_s=0)
    return stream, logging.getLogger("test.redaction.more")


def test_secrets_in_extra_fields_are_redacted_whatever_their_type() -> None:
    """`extra` values (strings, dicts, lists, exceptions) are rendered and redacted like the message."""
    stream, log = _capture()
    token = generate_token(TokenKind.API)
    log.info(
        "call done",
        extra={
            "token": token,
            "headers": {"Authorization": "Bearer sk-live-abcdefgh12345678"},
            "urls": ["https://storage.test/o?X-Goog-Signature=f00dbabe1234&X-Goog-Date=1"],
            "error": ValueError(f"rejected {token}"),
            "status": 200,
        },
    )
    output = stream.getvalue()
    logging.getLogger().handlers.clear()
    assert token not in output and "sk-live-abcdefgh12345678" not in output and "f00dbabe1234" not in output
    line = json.loads(output)
    assert line["status"] == 200 and line["token"] == "[REDACTED]"


def test_signed_url_signatures_basic_auth_and_header_dicts_are_redacted() -> None:
    """S3/GCS/Azure/emulator link signatures, Basic credentials and header mappings never reach the output."""
    stream, log = _capture()
    secrets = [
        "AKIAIOSFODNN7EXAMPLE%2F20260101",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "FwoGZXIvYXdzEJr%2F%2Fsession",
        "sv%3D2020sigvalue",
        "deadbeefcafef00d",
        "dXNlcjpwYXNzd29yZA==",
        "gl-raw-api-key-123",
    ]
    log.info(
        "GET https://b.s3.test/o?X-Amz-Credential=%s&X-Amz-Signature=%s&X-Amz-Security-Token=%s",
        *secrets[:3],
    )
    log.info("GET https://acct.blob.test/c/o?sv=2020&sig=%s and /__files/b/x?expires=1&sig=%s", *secrets[3:5])
    log.info("Authorization: Basic %s", secrets[5])
    log.info("sending %s", {"authorization": secrets[6], "x-auth-key": "user_1"})
    output = stream.getvalue()
    logging.getLogger().handlers.clear()
    for secret in secrets:
        assert secret not in output, secret
    assert "user_1" in output


def test_tokens_in_chained_exceptions_and_stack_info_are_redacted() -> None:
    """The cause of an exception and a logged stack carry no token either."""
    stream, log = _capture()
    token = generate_token(TokenKind.MCP_URL)
    try:
        try:
            raise KeyError(token)
        except KeyError as inner:
            raise RuntimeError("lookup failed") from inner
    except RuntimeError:
        log.exception("while resolving")
    secret_local = f"/mcp/{token}"  # noqa: F841 -- present in the frame, never in a stack line
    log.info("checkpoint %s", "x", stack_info=True)
    output = stream.getvalue()
    logging.getLogger().handlers.clear()
    assert token not in output
    assert "KeyError" in output and "Stack (most recent call last)" in output


def test_the_quick_secret_search_finds_whatever_a_pattern_would_redact() -> None:
    """redact() skips its substitutions when one combined search finds nothing: every shape a single
    pattern redacts (in either case where it ignores case) must be found by that search, and text with
    nothing to redact comes back unchanged."""
    from gumloop_mcp.runtime._logging import _ANY_SECRET, _PATTERNS, redact

    token = generate_token(TokenKind.MCP_URL)
    samples = [
        token,
        "gmcpoa_" + "0123456789abcdef" * 2,
        "BEARER abcdefgh12345678",
        "basic dXNlcjpwYXNzd29yZA==",
        "GET /mcp/abcdefgh12345678/sse",
        "https://b.example/f?X-Amz-Signature=deadbeef&x=1",
        "https://e.example/a?SIG=abc123",
        '{"Authorization": "xyz"}',
        "set-cookie: session=abc",
        "API_KEY=abc123",
        "Password: hunter2",
    ]
    for sample in samples:
        assert any(pattern.search(sample) for pattern in _PATTERNS), sample
        assert _ANY_SECRET.search(sample) is not None, sample
        assert "[REDACTED]" in redact(sample), sample
    for plain in ("POST", "/healthz", "tools/call", "list_all_gumloop_teams", "127.0.0.1", "-"):
        assert _ANY_SECRET.search(plain) is None
        assert redact(plain) is plain
